//! Fleet request bodies, through the real server: one started per process (plain HTTP on
//! 127.0.0.1, a fresh database, no etcd), an admin token and an enrolled device. The first
//! byte picks an endpoint and who calls it, the second a path argument, the rest is the
//! body. The server must answer every request, and never with 500: a panic in a handler
//! drops the connection, and an internal error is a defect.
#![no_main]
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

struct Server {
    url: String,
    admin: String,
    device: String,
    agent: ureq::Agent,
    _state: tempfile::TempDir,
    _runtime: tokio::runtime::Runtime,
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let state = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let running = runtime
            .block_on(compose_fleet::server::start(compose_fleet::server::Config {
                state: state.path().to_path_buf(),
                database: None,
                listen: "127.0.0.1:0".parse().unwrap(),
                repo: None,
                etcd: None,
                tls: compose_fleet::server::Tls::None,
                lock_ttl: 600,
                device_cert_lifetime: compose_fleet::server::DEVICE_CERT_LIFETIME,
            }))
            .unwrap();
        let url = running.url.clone();
        let admin = running.first_admin_token.clone().unwrap();
        runtime.spawn(async move { running.wait().await });
        let agent = fresh_agent();
        let token: serde_json::Value = agent
            .post(format!("{url}/api/v1/enroll-tokens"))
            .header("Authorization", format!("Bearer {admin}"))
            .send_json(serde_json::json!({"group": "default", "uses": 1000000}))
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let token = token["token"].as_str().unwrap().to_string();
        let enrolled: serde_json::Value = agent
            .post(format!("{url}/api/v1/enroll"))
            .send_json(serde_json::json!({"token": token, "id": "dev-1", "device": "vm", "version": "v1"}))
            .unwrap()
            .body_mut()
            .read_json()
            .unwrap();
        let device = enrolled["credential"].as_str().unwrap().to_string();
        Server {
            url,
            admin,
            device,
            agent,
            _state: state,
            _runtime: runtime,
        }
    })
}

fn fresh_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Method, path (`{}`: the path argument) and who calls.
const ENDPOINTS: &[(&str, &str, Caller)] = &[
    ("POST", "/api/v1/enroll", Caller::Nobody),
    ("POST", "/api/v1/device/report", Caller::Device),
    ("POST", "/api/v1/device/exec/{}", Caller::Device),
    ("GET", "/api/v1/device/poll?wait=0&version={}", Caller::Device),
    ("POST", "/v1/pre-reboot", Caller::Nobody),
    ("POST", "/v1/steady-state", Caller::Nobody),
    ("POST", "/fleetlock/{}/v1/pre-reboot", Caller::Nobody),
    ("PUT", "/api/v1/devices/{}/group", Caller::Admin),
    ("POST", "/api/v1/devices/{}/exec", Caller::Admin),
    ("PUT", "/api/v1/groups/{}", Caller::Admin),
    ("POST", "/api/v1/rollouts", Caller::Admin),
    ("POST", "/api/v1/rollouts/{}/pause", Caller::Admin),
    ("POST", "/api/v1/tokens", Caller::Admin),
    ("POST", "/api/v1/enroll-tokens", Caller::Admin),
    ("GET", "/api/v1/devices/{}", Caller::Admin),
    ("GET", "/api/v1/rollouts/{}", Caller::Admin),
    ("POST", "/api/v1/tokens", Caller::Device),
];

#[derive(Clone, Copy)]
enum Caller {
    Nobody,
    Admin,
    Device,
}

const ARGUMENTS: &[&str] = &["dev-1", "1", "0", "-1", "default", "x%2Fy", "%00", "99999999999999999999", "a%20b"];

fuzz_target!(|data: &[u8]| {
    let [pick, argument, body @ ..] = data else {
        return;
    };
    let s = server();
    let (method, path, caller) = ENDPOINTS[*pick as usize % ENDPOINTS.len()];
    let path = path.replace("{}", ARGUMENTS[*argument as usize % ARGUMENTS.len()]);
    let url = format!("{}{path}", s.url);
    let auth = match caller {
        Caller::Nobody => None,
        Caller::Admin => Some(&s.admin),
        Caller::Device => Some(&s.device),
    };
    let send = |agent: &ureq::Agent| match method {
        "GET" => {
            let mut r = agent.get(&url);
            if let Some(token) = auth {
                r = r.header("Authorization", format!("Bearer {token}"));
            }
            r.call()
        }
        _ => {
            let mut r = if method == "PUT" {
                agent.put(&url)
            } else {
                agent.post(&url)
            };
            r = r.header("Content-Type", "application/json");
            if let Some(token) = auth {
                r = r.header("Authorization", format!("Bearer {token}"));
            }
            r.send(body)
        }
    };
    // A pooled connection the server closed meanwhile is the client's problem, not the
    // server's: one more try on a fresh connection before calling it a defect.
    let response = send(&s.agent)
        .or_else(|_| send(&fresh_agent()))
        .unwrap_or_else(|e| panic!("{method} {path}: no answer: {e}"));
    let status = response.status().as_u16();
    // 502 is FleetLock's answer without etcd; 500 would be the server's own failure.
    assert!(
        status < 500 || (status == 502 && (path.contains("reboot") || path.contains("steady"))),
        "{method} {path} answered {status}"
    );
});
