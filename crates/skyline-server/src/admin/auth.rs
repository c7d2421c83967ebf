//! Admin API tokens and the middleware that checks them.
//!
//! A token reads `sla_<id>_<secret>`: `id` is 16 hex characters, the public
//! lookup key; `secret` is 64 hex characters (32 random bytes). The store
//! keeps only SHA-256 of the secret, compared in constant time. Refusals:
//!
//! | case | status | code |
//! | --- | --- | --- |
//! | no `Authorization: Bearer` header | 401 | `UNAUTHORIZED` |
//! | unknown, malformed or wrong token | 401 | `UNAUTHORIZED` |
//! | revoked token | 401 | `TOKEN_REVOKED` |
//! | over the token's rate limit | 429 | `RATE_LIMITED` |
//! | read-only token, a method other than GET/HEAD | 403 | `READ_ONLY_TOKEN` |
//!
//! 401s are counted per client address in the [`SecurityLog`](crate::security::SecurityLog)
//! (`admin-auth-failed`); every authenticated request that is not rate
//! limited is written to the audit log as `admin-token-used`, naming the route
//! template (never a license key from the path) and the status.

use std::fmt;
use std::sync::Arc;
use std::time::Instant;

use aws_lc_rs::{constant_time, digest};
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AdminState;
use crate::api_error::ApiError;
use crate::domain::tokens::RecordAdminTokenUse;
use crate::domain::{AuditAction, AuditEntry, NewAdminToken, Sha256Digest};
use crate::PeerAddr;

/// The prefix of every admin token.
pub const TOKEN_PREFIX: &str = "sla_";

/// Who is calling: the authenticated token, as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's public id.
    pub token_id: String,
    /// The token's name.
    pub name: String,
    /// Whether it may only read.
    pub read_only: bool,
}

/// A freshly generated token: its text, shown once, and what the store keeps.
/// `Debug` hides the text.
pub struct GeneratedToken {
    /// `sla_<id>_<secret>`: give it to the API client; it is never shown again.
    pub text: String,
    /// The record to store (the secret's hash only).
    pub record: NewAdminToken,
}

impl fmt::Debug for GeneratedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedToken")
            .field("text", &"<redacted>")
            .field("record", &self.record)
            .finish()
    }
}

/// The system random generator failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// Generates a new token named `name`.
pub fn generate_token(name: &str, read_only: bool) -> Result<GeneratedToken, RandomError> {
    let mut id = [0u8; 8];
    let mut secret = zeroize::Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::fill(&mut id).map_err(|_| RandomError)?;
    aws_lc_rs::rand::fill(secret.as_mut()).map_err(|_| RandomError)?;
    let id = hex::encode(id);
    let secret = zeroize::Zeroizing::new(hex::encode(secret.as_ref()));
    Ok(GeneratedToken {
        text: format!("{TOKEN_PREFIX}{id}_{}", secret.as_str()),
        record: NewAdminToken {
            id,
            name: name.to_owned(),
            read_only,
            secret_hash: hash_secret(&secret),
        },
    })
}

/// SHA-256 of a token's secret part.
pub fn hash_secret(secret: &str) -> Sha256Digest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest::digest(&digest::SHA256, secret.as_bytes()).as_ref());
    out
}

/// Splits `sla_<id>_<secret>`; `None` for anything else.
pub fn parse_token(text: &str) -> Option<(&str, &str)> {
    let rest = text.strip_prefix(TOKEN_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let hex_of = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    (hex_of(id, 16) && hex_of(secret, 64)).then_some((id, secret))
}

fn unauthorized(code: &'static str, message: &str) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, code, message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"skyline-admin\""),
    );
    response
}

/// Checks the bearer token, the rate limit and the read-only rule, runs the
/// request with a [`Caller`] extension, and audits the use.
pub(crate) async fn authenticate(
    State(state): State<Arc<AdminState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let client = request
        .extensions()
        .get::<ConnectInfo<PeerAddr>>()
        .map(|ConnectInfo(PeerAddr(addr))| addr.ip());
    let refuse = |code, message: &str| {
        if let Some(ip) = client {
            state.security.record(AuditAction::AdminAuthFailed, ip);
        }
        unauthorized(code, message)
    };
    let bearer = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let Some(bearer) = bearer else {
        return refuse(
            "UNAUTHORIZED",
            "an `Authorization: Bearer TOKEN` header is required",
        );
    };
    let Some((id, secret)) = parse_token(bearer) else {
        return refuse("UNAUTHORIZED", "the token is not valid");
    };
    let credential = match state.services.store.find_admin_token(id).await {
        Ok(c) => c,
        Err(e) => return ApiError::from_store(e).into_response(),
    };
    let Some(credential) = credential else {
        return refuse("UNAUTHORIZED", "the token is not valid");
    };
    let hash = hash_secret(secret);
    if constant_time::verify_slices_are_equal(&hash, &credential.secret_hash).is_err() {
        return refuse("UNAUTHORIZED", "the token is not valid");
    }
    let token = credential.token;
    if token.revoked_at.is_some() {
        return refuse("TOKEN_REVOKED", "the token was revoked");
    }
    if !state.limiter.try_acquire(token.id.clone(), Instant::now()) {
        tracing::info!(token = %token.id, "admin API rate limit exceeded");
        let mut response = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITED",
            "too many requests with this token; try again shortly",
        )
        .into_response();
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return response;
    }
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "?".into());
    let caller = Caller {
        token_id: token.id.clone(),
        name: token.name.clone(),
        read_only: token.read_only,
    };
    let writes = !matches!(method, Method::GET | Method::HEAD);
    let response = if writes && token.read_only {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "READ_ONLY_TOKEN",
            "this token may only read; use a read-write token for changes",
        )
        .into_response()
    } else {
        request.extensions_mut().insert(caller.clone());
        next.run(request).await
    };
    let entry = AuditEntry {
        actor: state.actor(&caller),
        action: AuditAction::AdminTokenUsed,
        product_id: None,
        license: None,
        detail: format!(
            "{method} {route} -> {} from {}",
            response.status().as_u16(),
            client
                .map(|ip| ip.to_string())
                .unwrap_or_else(|| "?".into())
        ),
    };
    let by = entry.actor.clone();
    let used = RecordAdminTokenUse {
        id: token.id.clone(),
        entry,
    };
    if let Err(e) = state.services.store.execute(used, &by).await {
        tracing::error!(error = %e, "recording an admin token use failed");
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_tokens_parse_and_hash() {
        let token = generate_token("billing", true).unwrap();
        let (id, secret) = parse_token(&token.text).unwrap();
        assert_eq!(id, token.record.id);
        assert_eq!(hash_secret(secret), token.record.secret_hash);
        assert!(token.record.read_only);
        assert!(!format!("{token:?}").contains(secret));
        assert!(parse_token("sla_zz_00").is_none());
        assert!(parse_token(&token.text.replace("sla_", "xyz_")).is_none());
        assert_ne!(generate_token("b", false).unwrap().text, token.text);
    }
}
