//! The admin side of the API, for the CLI and tests: JSON over HTTP(S) with a bearer token,
//! trusting the system's roots or a given certificate (a self-signed server's).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{url}: {status}: {message}")]
    Refused {
        url: String,
        status: u16,
        message: String,
    },
    #[error(
        "cannot reach the fleet server at {url}: {message}\nhelp: is `compose fleet serve` running there? For a self-signed server give --ca STATE/tls/cert.pem"
    )]
    Unreachable { url: String, message: String },
    #[error(
        "certificate {path}: {message}\nhelp: give the server's PEM certificate (STATE/tls/cert.pem of a self-signed server)"
    )]
    Ca { path: PathBuf, message: String },
}

impl ClientError {
    /// The HTTP status of a refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A client of one server.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: ureq::Agent,
}

impl Client {
    /// A client of `base` (`https://HOST:PORT`), sending `token`, trusting `ca` when given.
    pub fn new(base: &str, token: Option<&str>, ca: Option<&Path>) -> Result<Client, ClientError> {
        use ureq::tls::{Certificate, RootCerts, TlsConfig};
        let roots = match ca {
            Some(path) => {
                let pem = std::fs::read(path).map_err(|e| ClientError::Ca {
                    path: path.to_path_buf(),
                    message: e.to_string(),
                })?;
                let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&pem)
                    .filter_map(|item| match item {
                        Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                        _ => None,
                    })
                    .collect();
                if certs.is_empty() {
                    return Err(ClientError::Ca {
                        path: path.to_path_buf(),
                        message: "no PEM certificate in it".into(),
                    });
                }
                RootCerts::Specific(Arc::new(certs))
            }
            None => RootCerts::WebPki,
        };
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(90)))
            .http_status_as_error(false)
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .build()
            .new_agent();
        Ok(Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.map(str::to_string),
            agent,
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.call("GET", path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call("POST", path, Some(body))
    }

    pub fn put(&self, path: &str, body: &Value) -> Result<Value, ClientError> {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.call("DELETE", path, None)
    }

    /// A FleetLock call (`/v1/pre-reboot` or `/v1/steady-state`) with its header.
    pub fn fleetlock(&self, path: &str, id: &str, group: &str) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let body = serde_json::json!({"client_params": {"id": id, "group": group}});
        let mut request = self
            .agent
            .post(&url)
            .header(compose_update::fleet::FLEETLOCK_HEADER, "true");
        if let Some(token) = &self.token {
            request = request.header("Authorization", &format!("Bearer {token}"));
        }
        let response = request.send_json(&body);
        self.answer(url, response)
    }

    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let url = format!("{}{path}", self.base);
        let auth = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let response = match (method, body) {
            ("GET", _) => {
                let mut r = self.agent.get(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            ("DELETE", _) => {
                let mut r = self.agent.delete(&url);
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.call()
            }
            (_, body) => {
                let mut r = if method == "PUT" {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                if let Some(a) = &auth {
                    r = r.header("Authorization", a);
                }
                r.send_json(body.cloned().unwrap_or(Value::Null))
            }
        };
        self.answer(url, response)
    }

    fn answer(
        &self,
        url: String,
        response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Value, ClientError> {
        let mut response = response.map_err(|e| ClientError::Unreachable {
            url: url.clone(),
            message: e.to_string(),
        })?;
        let status = response.status();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        if status.is_success() {
            return Ok(value);
        }
        let message = value
            .get("error")
            .or_else(|| value.get("value"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| value.to_string());
        Err(ClientError::Refused {
            url,
            status: status.as_u16(),
            message,
        })
    }
}
