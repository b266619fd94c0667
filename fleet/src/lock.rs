//! Reboot slots on a real etcd: a counting semaphore per group, for FleetLock. Each holder is
//! a key `/compose/fleetlock/GROUP/holders/ID` bound to a lease, so a holder that never comes
//! back frees its slot when the lease runs out (what locksmith and Airlock lacked). A slot
//! is taken with a compare-and-swap transaction: put the holder's key only if no key of the
//! group changed since the holders were counted. etcd is spoken to through its JSON gateway
//! (`/v3/kv/...`, etcd 3.4 and later), so no gRPC stack is needed. A cluster is given as
//! several endpoints (`http://a:2379,http://b:2379,http://c:2379`, as etcdctl takes them):
//! a request that cannot reach one member goes to the next, so reboot slots keep working while
//! a minority of members is down (what the others agree on is what counts).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const PREFIX: &str = "/compose/fleetlock/";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "etcd at {url}: {message}\nhelp: start etcd (Debian's etcd-server) and give its client URL with --etcd"
    )]
    Etcd { url: String, message: String },
    #[error("group `{group}` has all its {slots} reboot slots taken (by {holders})")]
    Full {
        group: String,
        slots: u32,
        holders: String,
    },
}

/// A client of an etcd cluster: its members' client URLs, and the one that answered last.
#[derive(Debug, Clone)]
pub struct Etcd {
    endpoints: Vec<String>,
    /// Where the next request goes first (shared by clones: one server, one view).
    current: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    agent: ureq::Agent,
}

/// One holder of a reboot slot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Holder {
    pub group: String,
    pub id: String,
    /// Unix seconds when it took the slot.
    pub since: u64,
    /// Seconds left on its lease; the slot frees itself when it reaches 0.
    #[serde(default)]
    pub ttl_left: i64,
}

fn b64(s: &str) -> String {
    B64.encode(s.as_bytes())
}

fn unb64(v: &Value) -> String {
    v.as_str()
        .and_then(|s| B64.decode(s).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// etcd's JSON gateway writes int64 as strings.
fn int(v: &Value) -> i64 {
    match v {
        Value::String(s) => s.parse().unwrap_or(0),
        Value::Number(n) => n.as_i64().unwrap_or(0),
        _ => 0,
    }
}

/// The key just after every key starting with `prefix` (etcd's range end for a prefix).
fn prefix_end(prefix: &str) -> String {
    let mut bytes = prefix.as_bytes().to_vec();
    if let Some(last) = bytes.last_mut() {
        *last += 1;
    }
    String::from_utf8(bytes).expect("prefixes are ASCII")
}

fn group_prefix(group: &str) -> String {
    format!("{PREFIX}{group}/holders/")
}

impl Etcd {
    /// A client of the members at `endpoints` (comma-separated client URLs).
    pub fn new(endpoints: &str) -> Etcd {
        let agent = ureq::Agent::config_builder()
            .timeout_connect(Some(std::time::Duration::from_secs(2)))
            .timeout_global(Some(std::time::Duration::from_secs(10)))
            .http_status_as_error(false)
            .build()
            .new_agent();
        Etcd {
            endpoints: endpoints
                .split(',')
                .map(|e| e.trim().trim_end_matches('/').to_string())
                .filter(|e| !e.is_empty())
                .collect(),
            current: Default::default(),
            agent,
        }
    }

    /// The members' client URLs, comma-separated.
    pub fn url(&self) -> String {
        self.endpoints.join(",")
    }

    /// `path` on the member that answered last, or on the next ones in turn when it cannot
    /// be reached or has no leader; the error of the last one tried when none answers.
    fn call(&self, path: &str, body: Value) -> Result<Value, LockError> {
        use std::sync::atomic::Ordering;
        let first = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for i in 0..self.endpoints.len().max(1) {
            let at = (first + i) % self.endpoints.len().max(1);
            let Some(url) = self.endpoints.get(at) else {
                break;
            };
            match self.call_one(url, path, &body) {
                Ok(value) => {
                    self.current.store(at, Ordering::Relaxed);
                    return Ok(value);
                }
                Err((e, unreachable)) => {
                    last = Some(e);
                    if !unreachable {
                        break;
                    }
                }
            }
        }
        Err(last.unwrap_or_else(|| LockError::Etcd {
            url: String::new(),
            message: "no etcd endpoint given".into(),
        }))
    }

    /// `path` on one member; the error says whether another member may do better (it could
    /// not be reached, or it answered 5xx: no leader, stopping).
    fn call_one(&self, url: &str, path: &str, body: &Value) -> Result<Value, (LockError, bool)> {
        let error = |message: String| LockError::Etcd {
            url: url.to_string(),
            message,
        };
        let mut response = self
            .agent
            .post(&format!("{url}{path}"))
            .send_json(body)
            .map_err(|e| (error(e.to_string()), true))?;
        let status = response.status();
        let value: Value = response
            .body_mut()
            .read_json()
            .map_err(|e| (error(format!("{path}: {e}")), true))?;
        if !status.is_success() {
            return Err((
                error(format!("{path}: {status}: {value}")),
                status.is_server_error(),
            ));
        }
        Ok(value)
    }

    /// Whether etcd answers.
    pub fn ping(&self) -> Result<(), LockError> {
        self.call(
            "/v3/kv/range",
            json!({"key": b64(PREFIX), "count_only": true}),
        )
        .map(drop)
    }

    /// Takes one of `slots` reboot slots of `group` for `id` (again, if it holds one: then
    /// its lease is renewed). The slot frees itself `ttl` seconds later unless released.
    pub fn acquire(
        &self,
        group: &str,
        id: &str,
        slots: u32,
        ttl: u64,
        now: u64,
    ) -> Result<(), LockError> {
        let prefix = group_prefix(group);
        let key = format!("{prefix}{id}");
        // Granted at the first free slot seen, kept across retries, revoked if unused.
        let mut lease: Option<i64> = None;
        let revoke = |lease: Option<i64>| {
            if let Some(lease) = lease {
                let _ = self.call("/v3/lease/revoke", json!({"ID": lease.to_string()}));
            }
        };
        for _ in 0..16 {
            let range = self.call(
                "/v3/kv/range",
                json!({"key": b64(&prefix), "range_end": b64(&prefix_end(&prefix))}),
            )?;
            let revision = int(&range["header"]["revision"]);
            let kvs = range["kvs"].as_array().cloned().unwrap_or_default();
            let held: Vec<String> = kvs
                .iter()
                .map(|kv| unb64(&kv["key"])[prefix.len()..].to_string())
                .collect();
            if let Some(kv) = kvs.iter().find(|kv| unb64(&kv["key"]) == key) {
                revoke(lease);
                let lease = int(&kv["lease"]);
                if lease != 0 {
                    self.call("/v3/lease/keepalive", json!({"ID": lease.to_string()}))?;
                }
                return Ok(());
            }
            if held.len() as u32 >= slots {
                revoke(lease);
                return Err(LockError::Full {
                    group: group.to_string(),
                    slots,
                    holders: held.join(", "),
                });
            }
            let lease = match lease {
                Some(lease) => lease,
                None => *lease.insert(int(
                    &self.call("/v3/lease/grant", json!({"TTL": ttl.to_string()}))?["ID"]
                )),
            };
            let value = serde_json::to_string(&json!({"group": group, "id": id, "since": now}))
                .expect("JSON");
            let txn = self.call(
                "/v3/kv/txn",
                json!({
                    "compare": [{
                        "target": "MOD",
                        "key": b64(&prefix),
                        "range_end": b64(&prefix_end(&prefix)),
                        "result": "LESS",
                        "mod_revision": (revision + 1).to_string(),
                    }],
                    "success": [{"request_put": {"key": b64(&key), "value": b64(&value), "lease": lease.to_string()}}],
                }),
            )?;
            if txn["succeeded"].as_bool() == Some(true) {
                return Ok(());
            }
            // Another holder came or went between the count and the transaction: count again
            // (with the same lease).
        }
        revoke(lease);
        Err(LockError::Etcd {
            url: self.url(),
            message: format!("group `{group}`: the holders kept changing; try again"),
        })
    }

    /// Frees `id`'s slot in `group`; freeing a slot not held is not an error (FleetLock's
    /// steady-state is sent on every boot).
    pub fn release(&self, group: &str, id: &str) -> Result<bool, LockError> {
        let key = format!("{}{id}", group_prefix(group));
        let deleted = self.call(
            "/v3/kv/deleterange",
            json!({"key": b64(&key), "prev_kv": true}),
        )?;
        let lease = deleted["prev_kvs"]
            .as_array()
            .and_then(|kvs| kvs.first())
            .map(|kv| int(&kv["lease"]))
            .unwrap_or(0);
        if lease != 0 {
            let _ = self.call("/v3/lease/revoke", json!({"ID": lease.to_string()}));
        }
        Ok(int(&deleted["deleted"]) > 0)
    }

    /// Every holder of every group.
    pub fn holders(&self) -> Result<Vec<Holder>, LockError> {
        let range = self.call(
            "/v3/kv/range",
            json!({"key": b64(PREFIX), "range_end": b64(&prefix_end(PREFIX))}),
        )?;
        let mut holders = Vec::new();
        for kv in range["kvs"].as_array().cloned().unwrap_or_default() {
            let Ok(mut holder) = serde_json::from_str::<Holder>(&unb64(&kv["value"])) else {
                continue;
            };
            let lease = int(&kv["lease"]);
            if lease != 0 {
                holder.ttl_left = int(
                    &self.call("/v3/lease/timetolive", json!({"ID": lease.to_string()}))?["TTL"]
                );
            }
            holders.push(holder);
        }
        holders.sort_by(|a, b| (&a.group, &a.id).cmp(&(&b.group, &b.id)));
        Ok(holders)
    }
}

/// An etcd of its own (Debian's `etcd`): one member, or a cluster of several, each on two free
/// loopback ports with its data in a temporary folder in memory (`/dev/shm` where there is
/// one: every write is fsynced, and on a busy disk that, not etcd, sets the pace); killed when
/// dropped. For tests, benches and trying the server out.
#[derive(Debug)]
pub struct LocalEtcd {
    members: Vec<Member>,
    /// Every member's client URL, comma-separated (what `--etcd` takes).
    pub url: String,
}

#[derive(Debug)]
struct Member {
    child: Option<std::process::Child>,
    _data: tempfile::TempDir,
}

impl Drop for LocalEtcd {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
    }
}

impl LocalEtcd {
    /// One member.
    pub fn start() -> Result<LocalEtcd, LockError> {
        LocalEtcd::cluster(1)
    }

    /// A cluster of `size` members, healthy (a leader elected) when this returns.
    pub fn cluster(size: usize) -> Result<LocalEtcd, LockError> {
        let free_port = || -> Result<u16, LockError> {
            let error = |e: std::io::Error| LockError::Etcd {
                url: "127.0.0.1".into(),
                message: e.to_string(),
            };
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(error)
        };
        let mut ports = Vec::new();
        for _ in 0..size {
            ports.push((free_port()?, free_port()?));
        }
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (_, peer))| format!("m{i}=http://127.0.0.1:{peer}"))
            .collect();
        let urls: Vec<String> = ports
            .iter()
            .map(|(client, _)| format!("http://127.0.0.1:{client}"))
            .collect();
        let mut etcd = LocalEtcd {
            members: Vec::new(),
            url: urls.join(","),
        };
        for (i, (_, peer)) in ports.iter().enumerate() {
            let url = &urls[i];
            let peer_url = format!("http://127.0.0.1:{peer}");
            let error = |message: String| LockError::Etcd {
                url: url.clone(),
                message,
            };
            let data = crate::in_memory("compose-etcd.").map_err(|e| error(e.to_string()))?;
            let child = std::process::Command::new("etcd")
                .args(["--name", &format!("m{i}"), "--data-dir"])
                .arg(data.path())
                .args(["--listen-client-urls", url, "--advertise-client-urls", url])
                .args(["--listen-peer-urls", &peer_url])
                .args(["--initial-advertise-peer-urls", &peer_url])
                .args(["--initial-cluster", &initial.join(",")])
                .args(["--initial-cluster-state", "new"])
                // Loopback answers in microseconds: elect quickly, as a test needs.
                .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .map_err(|e| {
                    error(format!(
                        "cannot run etcd: {e} (Debian: apt-get install etcd-server)"
                    ))
                })?;
            etcd.members.push(Member {
                child: Some(child),
                _data: data,
            });
        }
        let start = std::time::Instant::now();
        for url in &urls {
            let member = Etcd::new(url);
            while let Err(e) = member.ping() {
                if start.elapsed() > std::time::Duration::from_secs(30) {
                    return Err(e);
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        Ok(etcd)
    }

    /// Kills member `i` (SIGKILL), as a crash would.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.members.get_mut(i).and_then(|m| m.child.take()) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_after_every_key_of_the_prefix() {
        assert_eq!(prefix_end("/a/b/"), "/a/b0");
        assert!(prefix_end(PREFIX).as_str() > "/compose/fleetlock/zzz");
        assert_eq!(int(&json!("42")), 42);
        assert_eq!(int(&json!(7)), 7);
        assert_eq!(unb64(&json!(b64("x/y"))), "x/y");
    }
}
