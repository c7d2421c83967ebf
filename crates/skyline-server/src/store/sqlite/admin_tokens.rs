//! Admin API tokens: public id, name, the SHA-256 of the secret, use and
//! revocation times.

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row};

use super::{backend_error, journal};
use crate::store::{
    Actor, AdminToken, AdminTokenCredential, AuditAction, AuditEntry, NewAdminToken, StoreError,
};

const TOKEN_SELECT: &str = "SELECT id, name, read_only, created_at, last_used_at, revoked_at, \
     secret_hash FROM admin_tokens";

fn credential_row(row: &Row<'_>) -> rusqlite::Result<AdminTokenCredential> {
    let hash: Vec<u8> = row.get(6)?;
    Ok(AdminTokenCredential {
        token: AdminToken {
            id: row.get(0)?,
            name: row.get(1)?,
            read_only: row.get(2)?,
            created_at: row.get(3)?,
            last_used_at: row.get(4)?,
            revoked_at: row.get(5)?,
        },
        secret_hash: hash.try_into().map_err(|_| {
            rusqlite::Error::FromSqlConversionFailure(
                6,
                rusqlite::types::Type::Blob,
                "stored token hash is malformed".into(),
            )
        })?,
    })
}

fn require(conn: &Connection, id: &str) -> Result<AdminToken, StoreError> {
    find_admin_token(conn, id)?
        .map(|c| c.token)
        .ok_or_else(|| StoreError::not_found(format!("admin token `{id}`")))
}

/// [`Store::create_admin_token`](crate::store::Store::create_admin_token).
pub(super) fn create_admin_token(
    conn: &Connection,
    by: &Actor,
    token: &NewAdminToken,
) -> Result<AdminToken, StoreError> {
    let name_ok =
        (1..=64).contains(&token.name.chars().count()) && !token.name.chars().any(char::is_control);
    if !name_ok {
        return Err(StoreError::Invalid(
            "a token name must be 1 to 64 characters without control characters".into(),
        ));
    }
    conn.execute(
        "INSERT INTO admin_tokens (id, name, read_only, secret_hash, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            token.id,
            token.name,
            token.read_only,
            &token.secret_hash[..],
            by.at
        ],
    )
    .map_err(|e| {
        if e.sqlite_error_code() == Some(ErrorCode::ConstraintViolation) {
            StoreError::conflict(format!("admin token `{}`", token.id))
        } else {
            backend_error(e)
        }
    })?;
    let detail = format!(
        "token `{}` ({}), {}",
        token.name,
        token.id,
        if token.read_only {
            "read-only"
        } else {
            "read-write"
        }
    );
    journal::audit(
        conn,
        by,
        &AuditAction::named(AuditAction::ADMIN_TOKEN_CREATED),
        None,
        None,
        &detail,
    )?;
    require(conn, &token.id)
}

/// [`Store::find_admin_token`](crate::store::Store::find_admin_token).
pub(super) fn find_admin_token(
    conn: &Connection,
    id: &str,
) -> Result<Option<AdminTokenCredential>, StoreError> {
    conn.prepare_cached(&format!("{TOKEN_SELECT} WHERE id = ?1"))
        .and_then(|mut s| s.query_row([id], credential_row).optional())
        .map_err(backend_error)
}

/// [`Store::list_admin_tokens`](crate::store::Store::list_admin_tokens).
pub(super) fn list_admin_tokens(conn: &Connection) -> Result<Vec<AdminToken>, StoreError> {
    let mut stmt = conn
        .prepare_cached(&format!("{TOKEN_SELECT} ORDER BY created_at, id"))
        .map_err(backend_error)?;
    let tokens = stmt
        .query_map([], |row| credential_row(row).map(|c| c.token))
        .and_then(Iterator::collect)
        .map_err(backend_error)?;
    Ok(tokens)
}

/// [`Store::revoke_admin_token`](crate::store::Store::revoke_admin_token).
pub(super) fn revoke_admin_token(
    conn: &Connection,
    by: &Actor,
    id: &str,
) -> Result<AdminToken, StoreError> {
    let before = require(conn, id)?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    conn.execute(
        "UPDATE admin_tokens SET revoked_at = ?2 WHERE id = ?1",
        params![id, by.at],
    )
    .map_err(backend_error)?;
    let detail = format!("token `{}` ({id})", before.name);
    journal::audit(
        conn,
        by,
        &AuditAction::named(AuditAction::ADMIN_TOKEN_REVOKED),
        None,
        None,
        &detail,
    )?;
    require(conn, id)
}

/// [`Store::record_admin_token_use`](crate::store::Store::record_admin_token_use).
pub(super) fn record_admin_token_use(
    conn: &Connection,
    id: &str,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE admin_tokens SET last_used_at = ?2 WHERE id = ?1")
        .and_then(|mut s| s.execute(params![id, entry.actor.at]))
        .map_err(backend_error)?;
    journal::append_audit(conn, entry)
}
