//! Import of every table ([`DumpRecord`]s): locks the tables, refuses a
//! database that has data, inserts in batches of 1,000 rows (`unnest` of one
//! array per column) inside one transaction, moves the id sequences past the
//! imported ids, and commits only after the dump's end record. Artifact
//! pieces are joined into stored chunks again, each artifact checked against
//! its digest before the row naming it is written.

use chrono::NaiveDate;
use deadpool_postgres::{Client, Transaction};
use tokio::sync::mpsc;
use tokio_postgres::types::ToSql;

use super::blobs::ArtifactWriter;
use super::dump::BATCH;
use super::pg_error;
use super::rows;
use crate::store::dump::{
    bad_dump, dumped_date, dumped_digest, dumped_duration, dumped_hash, dumped_signature,
    dumped_toggle, not_empty, ArtifactPieces, ImportCheck,
};
use crate::store::rows::Columns as _;
use crate::store::{DumpCounts, DumpRecord, StoreError};

/// [`Store::import_dump`](crate::store::Store::import_dump).
pub(super) async fn import(
    client: &mut Client,
    mut records: mpsc::Receiver<DumpRecord>,
) -> Result<DumpCounts, StoreError> {
    let tx = client.transaction().await.map_err(pg_error)?;
    // No node may write while the import runs: it would not be empty then.
    tx.batch_execute(
        "LOCK TABLE products, plans, licenses, devices, toggles, releases, admin_tokens, \
         audit_log, telemetry, release_blobs, release_blob_chunks IN EXCLUSIVE MODE",
    )
    .await
    .map_err(pg_error)?;
    let has_data = rows::query_opt(
        &tx,
        "SELECT EXISTS (SELECT 1 FROM products) OR EXISTS (SELECT 1 FROM audit_log) \
         OR EXISTS (SELECT 1 FROM telemetry)",
        &[],
    )
    .await
    .map_err(pg_error)?
    .map(|row| row.flag(0))
    .transpose()?
    .unwrap_or(false);
    if has_data {
        return Err(not_empty());
    }

    let mut check = ImportCheck::default();
    let mut pending: Vec<DumpRecord> = Vec::with_capacity(BATCH);
    let mut pieces = ArtifactPieces::default();
    let mut artifact = ArtifactWriter::default();
    while let Some(record) = records.recv().await {
        check.next(&record)?;
        let kind_changed = pending.first().is_some_and(|p| p.kind() != record.kind());
        if kind_changed || pending.len() == BATCH {
            insert(&tx, std::mem::take(&mut pending)).await?;
        }
        match record {
            DumpRecord::Setting { name, value } => keep_setting(&tx, &name, &value).await?,
            DumpRecord::ReleaseBlob {
                sha256,
                size,
                offset,
                data,
            } => {
                let piece = pieces.accept(&sha256, size, offset, &data)?;
                artifact.write(&tx, piece).await?;
            }
            DumpRecord::End { .. } => {}
            record => pending.push(record),
        }
    }
    insert(&tx, pending).await?;
    let counts = check.finish()?;
    pieces.finish()?;
    // Event ids are claimed by the events that carry them.
    tx.batch_execute(
        "INSERT INTO telemetry_event_ids (license_id, event_id, seen_at) \
         SELECT license_id, event_id, min(received_at) FROM telemetry \
         WHERE event_id IS NOT NULL GROUP BY license_id, event_id",
    )
    .await
    .map_err(pg_error)?;
    // Each license's seat count and first binding day follow its devices.
    tx.batch_execute(
        "UPDATE licenses l SET devices_bound = d.n, first_bound_on = d.first \
         FROM (SELECT license_id, count(*) AS n, min(bound_on) AS first \
               FROM devices GROUP BY license_id) d WHERE d.license_id = l.id",
    )
    .await
    .map_err(pg_error)?;
    for table in ["licenses", "toggles", "releases", "audit_log", "telemetry"] {
        tx.batch_execute(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), \
             coalesce(max(id), 0) + 1, false) FROM {table}"
        ))
        .await
        .map_err(pg_error)?;
    }
    tx.commit().await.map_err(pg_error)?;
    Ok(counts)
}

/// Stores a dumped setting. The dump's settings win: the database is
/// empty, so nothing was indexed under its own license index secret yet.
async fn keep_setting(tx: &Transaction<'_>, name: &str, value: &str) -> Result<(), StoreError> {
    rows::execute(
        tx,
        "INSERT INTO settings (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        &[&name, &value],
    )
    .await
    .map(drop)
    .map_err(pg_error)
}

/// Inserts records of one kind with one statement.
async fn insert(tx: &Transaction<'_>, records: Vec<DumpRecord>) -> Result<(), StoreError> {
    let Some(kind) = records.first().map(DumpRecord::kind) else {
        return Ok(());
    };
    let mut columns = Columns::default();
    for record in records {
        columns.push(record)?;
    }
    let c = &columns;
    let (sql, params): (&str, Vec<&(dyn ToSql + Sync)>) = match kind {
        "product" => (
            "INSERT INTO products (id, min_version, enabled) \
             SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::BOOLEAN[])",
            vec![&c.text[0], &c.text[1], &c.flag],
        ),
        "plan" => (
            "INSERT INTO plans (id, product_id, duration, seats) \
             SELECT * FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::INTEGER[])",
            vec![&c.text[0], &c.text[1], &c.text[2], &c.int4],
        ),
        "license" => (
            "INSERT INTO licenses (id, key_digest, key_last_group, plan_id, status, \
             activation_date, expiry_date) SELECT * FROM unnest($1::BIGINT[], $2::BYTEA[], \
             $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::DATE[], $7::DATE[])",
            vec![
                &c.int8[0],
                &c.bytes[0],
                &c.text[0],
                &c.text[1],
                &c.text[2],
                &c.date[0],
                &c.date[1],
            ],
        ),
        "device" => (
            "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on, \
             last_login, previous_last_login, locked, last_version, last_seen_at) \
             SELECT l, s, u, b, ll, pl, k, v, a FROM unnest($1::BIGINT[], $2::TEXT[], \
             $3::TEXT[], $4::DATE[], $5::BIGINT[], $6::BIGINT[], $7::BOOLEAN[], $8::TEXT[], \
             $9::BIGINT[]) WITH ORDINALITY AS d (l, s, u, b, ll, pl, k, v, a, n) ORDER BY n",
            vec![
                &c.int8[0],
                &c.text[0],
                &c.text[1],
                &c.date[0],
                &c.int8_opt[0],
                &c.int8_opt[1],
                &c.flag,
                &c.text_opt[0],
                &c.int8_opt[2],
            ],
        ),
        "toggle" => (
            "INSERT INTO toggles (id, product_id, scope, plan_id, license_id, name, \
             value_type, value) SELECT * FROM unnest($1::BIGINT[], $2::TEXT[], $3::TEXT[], \
             $4::TEXT[], $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[])",
            vec![
                &c.int8[0],
                &c.text[0],
                &c.text[1],
                &c.text_opt[0],
                &c.int8_opt[0],
                &c.text[2],
                &c.text[3],
                &c.text[4],
            ],
        ),
        "release" => (
            "INSERT INTO releases (id, product_id, version, platform, channel, file_name, size, \
             sha256, signature, yanked, published_at) SELECT * FROM unnest($1::BIGINT[], \
             $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::BIGINT[], \
             $8::BYTEA[], $9::BYTEA[], $10::BOOLEAN[], $11::BIGINT[])",
            vec![
                &c.int8[0],
                &c.text[0],
                &c.text[1],
                &c.text[2],
                &c.text[3],
                &c.text[4],
                &c.int8[1],
                &c.bytes[0],
                &c.bytes[1],
                &c.flag,
                &c.int8[2],
            ],
        ),
        "adminToken" => (
            "INSERT INTO admin_tokens (id, name, read_only, secret_hash, created_at, \
             last_used_at, revoked_at) SELECT * FROM unnest($1::TEXT[], $2::TEXT[], \
             $3::BOOLEAN[], $4::BYTEA[], $5::BIGINT[], $6::BIGINT[], $7::BIGINT[])",
            vec![
                &c.text[0],
                &c.text[1],
                &c.flag,
                &c.bytes[0],
                &c.int8[0],
                &c.int8_opt[0],
                &c.int8_opt[1],
            ],
        ),
        "audit" => (
            "INSERT INTO audit_log (id, at, actor, action, product_id, license_id, detail) \
             SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], $3::TEXT[], $4::TEXT[], \
             $5::TEXT[], $6::BIGINT[], $7::TEXT[])",
            vec![
                &c.int8[0],
                &c.int8[1],
                &c.text[0],
                &c.text[1],
                &c.text_opt[0],
                &c.int8_opt[0],
                &c.text[2],
            ],
        ),
        "telemetry" => (
            "INSERT INTO telemetry (id, license_id, product_id, event, data, client_time, \
             received_at, event_id) SELECT * FROM unnest($1::BIGINT[], $2::BIGINT[], \
             $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::BIGINT[], $7::BIGINT[], $8::TEXT[])",
            vec![
                &c.int8[0],
                &c.int8[1],
                &c.text[0],
                &c.text[1],
                &c.text_opt[0],
                &c.int8[2],
                &c.int8[3],
                &c.text_opt[1],
            ],
        ),
        _ => return Ok(()),
    };
    rows::execute(tx, sql, &params).await.map_err(|e| {
        let why = pg_error(e);
        bad_dump(&format!("its `{kind}` records do not fit: {why}"))
    })?;
    Ok(())
}

/// One batch of records as one array per column, by column type.
#[derive(Default)]
struct Columns {
    text: [Vec<String>; 5],
    text_opt: [Vec<Option<String>>; 2],
    int8: [Vec<i64>; 4],
    int8_opt: [Vec<Option<i64>>; 3],
    int4: Vec<i32>,
    flag: Vec<bool>,
    bytes: [Vec<Vec<u8>>; 2],
    date: [Vec<Option<NaiveDate>>; 2],
}

impl Columns {
    /// Adds one record's values, checking those that have a form.
    fn push(&mut self, record: DumpRecord) -> Result<(), StoreError> {
        let date = |text: &Option<String>| text.as_deref().map(dumped_date).transpose();
        match record {
            DumpRecord::Product {
                id,
                min_version,
                enabled,
            } => {
                self.text[0].push(id);
                self.text[1].push(min_version);
                self.flag.push(enabled);
            }
            DumpRecord::Plan {
                id,
                product_id,
                duration,
                seats,
            } => {
                dumped_duration(&duration)?;
                self.text[0].push(id);
                self.text[1].push(product_id);
                self.text[2].push(duration);
                self.int4
                    .push(i32::try_from(seats).map_err(|_| bad_dump("a plan has too many seats"))?);
            }
            DumpRecord::License {
                id,
                key_digest,
                key_last_group,
                plan_id,
                status,
                activation_date,
                expiry_date,
            } => {
                self.int8[0].push(id);
                self.bytes[0].push(dumped_digest(&key_digest)?);
                self.text[0].push(key_last_group);
                self.text[1].push(plan_id);
                self.text[2].push(status);
                self.date[0].push(date(&activation_date)?);
                self.date[1].push(date(&expiry_date)?);
            }
            DumpRecord::Device {
                license_id,
                serial_number,
                cs_product_uuid,
                bound_on,
                last_login,
                previous_last_login,
                locked,
                last_version,
                last_seen_at,
            } => {
                self.int8[0].push(license_id);
                self.text[0].push(serial_number);
                self.text[1].push(cs_product_uuid);
                self.date[0].push(Some(dumped_date(&bound_on)?));
                self.int8_opt[0].push(last_login);
                self.int8_opt[1].push(previous_last_login);
                self.flag.push(locked);
                self.text_opt[0].push(last_version);
                self.int8_opt[2].push(last_seen_at);
            }
            DumpRecord::Toggle {
                id,
                product_id,
                scope,
                plan_id,
                license_id,
                name,
                value_type,
                value,
            } => {
                dumped_toggle(&value_type, &value)?;
                self.int8[0].push(id);
                self.text[0].push(product_id);
                self.text[1].push(scope);
                self.text_opt[0].push(plan_id);
                self.int8_opt[0].push(license_id);
                self.text[2].push(name);
                self.text[3].push(value_type);
                self.text[4].push(value);
            }
            DumpRecord::Release {
                id,
                product_id,
                version,
                platform,
                channel,
                file_name,
                size,
                sha256,
                signature,
                yanked,
                published_at,
            } => {
                self.int8[0].push(id);
                self.text[0].push(product_id);
                self.text[1].push(version);
                self.text[2].push(platform.unwrap_or_default());
                self.text[3].push(channel);
                self.text[4].push(file_name);
                self.int8[1]
                    .push(i64::try_from(size).map_err(|_| bad_dump("a release is too large"))?);
                self.bytes[0].push(dumped_hash("a release digest", &sha256)?);
                self.bytes[1].push(dumped_signature(&signature)?);
                self.flag.push(yanked);
                self.int8[2].push(published_at);
            }
            DumpRecord::AdminToken {
                id,
                name,
                read_only,
                secret_hash,
                created_at,
                last_used_at,
                revoked_at,
            } => {
                self.text[0].push(id);
                self.text[1].push(name);
                self.flag.push(read_only);
                self.bytes[0].push(dumped_hash("an admin token hash", &secret_hash)?);
                self.int8[0].push(created_at);
                self.int8_opt[0].push(last_used_at);
                self.int8_opt[1].push(revoked_at);
            }
            DumpRecord::Audit {
                id,
                at,
                actor,
                action,
                product_id,
                license_id,
                detail,
            } => {
                self.int8[0].push(id);
                self.int8[1].push(at);
                self.text[0].push(actor);
                self.text[1].push(action);
                self.text_opt[0].push(product_id);
                self.int8_opt[0].push(license_id);
                self.text[2].push(detail);
            }
            DumpRecord::Telemetry {
                id,
                license_id,
                product_id,
                event,
                data,
                client_time,
                received_at,
                event_id,
            } => {
                self.int8[0].push(id);
                self.int8[1].push(license_id);
                self.text[0].push(product_id);
                self.text[1].push(event);
                self.text_opt[0].push(data);
                self.int8[2].push(client_time);
                self.int8[3].push(received_at);
                self.text_opt[1].push(event_id);
            }
            DumpRecord::Setting { .. }
            | DumpRecord::ReleaseBlob { .. }
            | DumpRecord::End { .. } => {}
        }
        Ok(())
    }
}
