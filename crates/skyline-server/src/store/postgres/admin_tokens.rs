//! Admin API tokens: public id, name, the SHA-256 of the secret, use and
//! revocation times.

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::Row;

use super::rows::{self, get};
use super::{journal, pg_error};
use crate::store::{
    Actor, AdminToken, AdminTokenCredential, AuditAction, AuditEntry, NewAdminToken, StoreError,
};

const TOKEN_SELECT: &str = "SELECT id, name, read_only, created_at, last_used_at, revoked_at, \
     secret_hash FROM admin_tokens";

fn credential_row(row: &Row) -> Result<AdminTokenCredential, StoreError> {
    let hash: &[u8] = get(row, 6)?;
    Ok(AdminTokenCredential {
        token: AdminToken {
            id: get(row, 0)?,
            name: get(row, 1)?,
            read_only: get(row, 2)?,
            created_at: get(row, 3)?,
            last_used_at: get(row, 4)?,
            revoked_at: get(row, 5)?,
        },
        secret_hash: hash
            .try_into()
            .map_err(|_| StoreError::Backend("stored token hash is malformed".into()))?,
    })
}

async fn require<C: GenericClient>(c: &C, id: &str) -> Result<AdminToken, StoreError> {
    find_admin_token(c, id)
        .await?
        .map(|c| c.token)
        .ok_or_else(|| StoreError::not_found(format!("admin token `{id}`")))
}

/// [`Store::create_admin_token`](crate::store::Store::create_admin_token).
pub(super) async fn create_admin_token(
    tx: &Transaction<'_>,
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
    rows::execute(
        tx,
        "INSERT INTO admin_tokens (id, name, read_only, secret_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
        &[
            &token.id,
            &token.name,
            &token.read_only,
            &&token.secret_hash[..],
            &by.at,
        ],
    )
    .await
    .map_err(|e| {
        if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
            StoreError::conflict(format!("admin token `{}`", token.id))
        } else {
            pg_error(e)
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
        tx,
        by,
        &AuditAction::named(AuditAction::ADMIN_TOKEN_CREATED),
        None,
        None,
        &detail,
    )
    .await?;
    require(tx, &token.id).await
}

/// [`Store::find_admin_token`](crate::store::Store::find_admin_token).
pub(super) async fn find_admin_token<C: GenericClient>(
    c: &C,
    id: &str,
) -> Result<Option<AdminTokenCredential>, StoreError> {
    let sql = format!("{TOKEN_SELECT} WHERE id = $1");
    rows::query_opt(c, &sql, &[&id])
        .await
        .map_err(pg_error)?
        .map(|row| credential_row(&row))
        .transpose()
}

/// [`Store::list_admin_tokens`](crate::store::Store::list_admin_tokens).
pub(super) async fn list_admin_tokens<C: GenericClient>(
    c: &C,
) -> Result<Vec<AdminToken>, StoreError> {
    let sql = format!("{TOKEN_SELECT} ORDER BY created_at, id COLLATE \"C\"");
    rows::query(c, &sql, &[])
        .await
        .map_err(pg_error)?
        .iter()
        .map(|row| credential_row(row).map(|c| c.token))
        .collect()
}

/// [`Store::revoke_admin_token`](crate::store::Store::revoke_admin_token).
/// The token's row is locked first, so two revocations at once keep the
/// first time and audit once.
pub(super) async fn revoke_admin_token(
    tx: &Transaction<'_>,
    by: &Actor,
    id: &str,
) -> Result<AdminToken, StoreError> {
    let sql = format!("{TOKEN_SELECT} WHERE id = $1 FOR UPDATE");
    let before = rows::query_opt(tx, &sql, &[&id])
        .await
        .map_err(pg_error)?
        .map(|row| credential_row(&row).map(|c| c.token))
        .transpose()?
        .ok_or_else(|| StoreError::not_found(format!("admin token `{id}`")))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    rows::execute(
        tx,
        "UPDATE admin_tokens SET revoked_at = $2 WHERE id = $1",
        &[&id, &by.at],
    )
    .await
    .map_err(pg_error)?;
    let detail = format!("token `{}` ({id})", before.name);
    journal::audit(
        tx,
        by,
        &AuditAction::named(AuditAction::ADMIN_TOKEN_REVOKED),
        None,
        None,
        &detail,
    )
    .await?;
    require(tx, id).await
}

/// [`Store::record_admin_token_use`](crate::store::Store::record_admin_token_use).
pub(super) async fn record_admin_token_use(
    tx: &Transaction<'_>,
    id: &str,
    entry: &AuditEntry,
) -> Result<(), StoreError> {
    rows::execute(
        tx,
        "UPDATE admin_tokens SET last_used_at = $2 WHERE id = $1",
        &[&id, &entry.actor.at],
    )
    .await
    .map_err(pg_error)?;
    journal::append_audit(tx, entry).await
}
