//! Who is calling: axum extractors that check a request's bearer token against the store
//! before a handler runs. An admin endpoint names the role it needs in its signature
//! (`Caller<need::Operate>`), a device endpoint takes a [`DeviceCaller`]; neither can forget
//! the check.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};

use crate::auth::{self, Role};
use crate::server::{ApiError, Fleet, refuse};
use crate::store::Device;

/// The role an endpoint needs, as a type.
pub trait Need: std::fmt::Debug + Send + Sync + 'static {
    const ROLE: Role;
}

/// The three roles as types: `Caller<need::Read>` and so on.
pub mod need {
    use super::{Need, Role};

    #[derive(Debug)]
    pub struct Read;
    #[derive(Debug)]
    pub struct Operate;
    #[derive(Debug)]
    pub struct Admin;

    impl Need for Read {
        const ROLE: Role = Role::Read;
    }
    impl Need for Operate {
        const ROLE: Role = Role::Operate;
    }
    impl Need for Admin {
        const ROLE: Role = Role::Admin;
    }
}

/// An admin API caller whose token's role reaches `N`'s; the request is refused (401 or 403,
/// saying why) before the handler runs otherwise.
#[derive(Debug)]
pub struct Caller<N: Need> {
    pub role: Role,
    need: PhantomData<N>,
}

impl<N: Need> FromRequestParts<Arc<Fleet>> for Caller<N> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, f: &Arc<Fleet>) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "no token: send `Authorization: Bearer TOKEN` (the first admin token is in the server's state folder, `admin-token`)",
            )
        })?;
        let token = token.to_string();
        let role = f.db(move |f| role_of(f, &token, N::ROLE)).await?;
        Ok(Caller {
            role,
            need: PhantomData,
        })
    }
}

/// The enrolled device making the request. Over TLS it is the device whose certificate the
/// connection showed (mutual TLS; a bearer credential is not enough there); over plain HTTP,
/// which only loopback servers speak, the device whose credential the request carries.
#[derive(Debug)]
pub struct DeviceCaller(pub Device);

impl FromRequestParts<Arc<Fleet>> for DeviceCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, f: &Arc<Fleet>) -> Result<Self, ApiError> {
        if let Some(peer) = parts.extensions.get::<crate::tls::Peer>() {
            let cert = peer.cert_sha256.clone().ok_or_else(|| {
                refuse(
                    StatusCode::UNAUTHORIZED,
                    "no device certificate: over TLS a device shows the certificate it got at enrollment (mutual TLS)",
                )
            })?;
            let device = f.db(move |f| Ok(f.store.device_by_cert(&cert)?)).await?;
            return device.map(DeviceCaller).ok_or_else(|| {
                refuse(
                    StatusCode::UNAUTHORIZED,
                    "unknown device certificate: the device was removed; it must enroll again",
                )
            });
        }
        let token = bearer(&parts.headers).ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "no device credential: enroll first (POST /api/v1/enroll)",
            )
        })?;
        let hash = auth::hash(token);
        let device = f
            .db(move |f| Ok(f.store.device_by_credential(&hash)?))
            .await?;
        device.map(DeviceCaller).ok_or_else(|| {
            refuse(
                StatusCode::UNAUTHORIZED,
                "unknown device credential: the device was removed or never enrolled",
            )
        })
    }
}

/// The request's bearer token.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    auth::bearer(
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok()),
    )
}

/// The role of admin token `token`, or why it does not reach `need` (blocking: the store).
pub fn role_of(f: &Fleet, token: &str, need: Role) -> Result<Role, ApiError> {
    let hash = auth::hash(token);
    match f.store.token_role(&hash)? {
        Some(role) if role >= need => Ok(role),
        Some(role) => Err(refuse(
            StatusCode::FORBIDDEN,
            format!(
                "this token's role is {}; this needs {}",
                role.as_str(),
                need.as_str()
            ),
        )),
        None if f.store.device_by_credential(&hash)?.is_some() => Err(refuse(
            StatusCode::FORBIDDEN,
            "a device credential cannot call admin endpoints",
        )),
        None => Err(refuse(StatusCode::UNAUTHORIZED, "unknown token")),
    }
}
