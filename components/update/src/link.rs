//! The agent's connection to a fleet server: JSON requests over HTTPS that show the device's
//! certificate (or carry a bearer credential, to a loopback server without TLS), the
//! enrollment that gets the device its certificate, and its renewal.

use std::time::Duration;

use crate::fleet::{API, Enroll, Enrolled, FLEETLOCK_HEADER, Renew, Renewed};
use crate::identity::Identity;
use crate::net::{NetError, Trust};

pub type Error = Box<dyn std::error::Error>;

/// One fleet server, as this device reaches it.
#[derive(Debug)]
pub struct Link {
    base: String,
    agent: ureq::Agent,
    credential: String,
}

/// How an enrollment went.
#[derive(Debug, Clone, PartialEq)]
pub enum Enrollment {
    Accepted(Enrolled),
    /// Known to the server, waiting for an admin to accept it.
    Pending,
}

impl Link {
    /// `base` (`https://HOST:PORT`), trusted and shown as `trust` says; `credential` is sent
    /// as a bearer token when not empty; polls may be held `wait` seconds.
    pub fn new(base: &str, credential: &str, wait: u64, trust: &Trust) -> Result<Link, NetError> {
        Ok(Link {
            base: base.trim_end_matches('/').to_string(),
            agent: trust.agent(base, Some(Duration::from_secs(wait + 30)))?,
            credential: credential.to_string(),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The status and JSON body of an answer; a failed connection is an error.
    fn answer(
        url: &str,
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<(u16, serde_json::Value), Error> {
        let mut r = r.map_err(|e| format!("{url}: {e}"))?;
        let status = r.status().as_u16();
        let body: serde_json::Value = r.body_mut().read_json().unwrap_or_default();
        Ok((status, body))
    }

    /// A successful answer's body, or an error with the server's reason.
    fn success(
        url: &str,
        (status, body): (u16, serde_json::Value),
    ) -> Result<serde_json::Value, Error> {
        if !(200..300).contains(&status) {
            let why = body["error"]
                .as_str()
                .or(body["value"].as_str())
                .unwrap_or_default();
            return Err(format!("{url}: {status}: {why}").into());
        }
        Ok(body)
    }

    fn get_request(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let r = self.agent.get(url);
        if self.credential.is_empty() {
            r
        } else {
            r.header("Authorization", &format!("Bearer {}", self.credential))
        }
    }

    fn post_request(&self, url: &str) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        let r = self.agent.post(url).header(FLEETLOCK_HEADER, "true");
        if self.credential.is_empty() {
            r
        } else {
            r.header("Authorization", &format!("Bearer {}", self.credential))
        }
    }

    pub fn get(&self, path: &str) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let r = self.get_request(&url).call();
        Self::success(&url, Self::answer(&url, r)?)
    }

    pub fn post(&self, path: &str, body: &serde_json::Value) -> Result<serde_json::Value, Error> {
        let url = format!("{}{path}", self.base);
        let r = self.post_request(&url).send_json(body);
        Self::success(&url, Self::answer(&url, r)?)
    }

    /// Asks to join: accepted (with a certificate for the request's key, or a credential), or
    /// pending until an admin accepts the device.
    pub fn enroll(&self, enroll: &Enroll) -> Result<Enrollment, Error> {
        let url = format!("{}{API}/enroll", self.base);
        let r = self.post_request(&url).send_json(enroll);
        let answer = Self::answer(&url, r)?;
        if answer.0 == 202 {
            return Ok(Enrollment::Pending);
        }
        let body = Self::success(&url, answer)?;
        Ok(Enrollment::Accepted(serde_json::from_value(body)?))
    }

    /// Asks for a new certificate for `identity`'s key as device `id` (this link shows the
    /// certificate it has now), keeps it, and says when it expires (Unix seconds). A link
    /// made before still shows the old one.
    pub fn renew(&self, identity: &Identity, id: &str) -> Result<u64, Error> {
        let renew = Renew {
            csr: identity.request(id)?,
        };
        let body = self.post(
            &format!("{API}/device/renew"),
            &serde_json::to_value(&renew)?,
        )?;
        let renewed: Renewed = serde_json::from_value(body)?;
        identity.save_certificate(&renewed.certificate)?;
        Ok(renewed.expires_at)
    }
}
