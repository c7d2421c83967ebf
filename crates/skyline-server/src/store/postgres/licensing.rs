//! `start-session`: PROTOCOL.md section 6, steps 1–9, in one transaction.
//!
//! The license row is locked (`FOR NO KEY UPDATE`) before its devices are
//! read, so two start-sessions of one key, on this node or any other, run one
//! after the other: the last seat cannot be taken twice, and a last login is
//! never checked against a value another node is replacing. A revocation
//! (an `UPDATE` of the same row) waits for, or is seen by, the lock.

use deadpool_postgres::Transaction;
use skyline_protocol::dates::{self, PlanDuration};
use skyline_protocol::methods::StartSessionResult;

use super::rows::{self, get};
use super::{journal, pg_error};
use crate::store::rules::{self, last_login_matches, show_time};
use crate::store::{
    Actor, AuditAction, DeviceBinding, Refusal, StartSessionCommand, StartSessionOutcome,
    StoreError,
};

/// Decides one `start-session`. Refusals are `Ok`, so what they change (a
/// locked device, the audit entry) is committed.
pub(super) async fn start_session(
    tx: &Transaction<'_>,
    cmd: &StartSessionCommand,
) -> Result<StartSessionOutcome, StoreError> {
    let refuse = |refusal| Ok(StartSessionOutcome::Refused(refusal));

    // 1. Product known and enabled.
    let Some(product) = rows::product(tx, &cmd.product_id)
        .await?
        .filter(|p| p.enabled)
    else {
        return refuse(Refusal::UnknownProduct);
    };

    // 2. Version at least the product's minimum.
    if let Some(refusal) =
        rules::outdated_version(&product.id, &product.min_version, &cmd.product_version)?
    {
        return refuse(refusal);
    }

    // 3. Key exists for this product; from here on its row is locked.
    let license = match &cmd.license_digest {
        Some(digest) => rows::lock_license(tx, digest).await?,
        None => None,
    };
    let Some(license) = license.filter(|l| l.product_id == cmd.product_id) else {
        return refuse(Refusal::InvalidLicenseKey);
    };

    // 4 and 5. Not revoked, not expired.
    if let Some(refusal) = rules::unusable_license(
        license.status,
        license.activation_date,
        license.expiry_date,
        cmd.today,
    ) {
        return refuse(refusal);
    }

    let actor = Actor {
        name: cmd.source.clone().unwrap_or_else(|| "rpc".into()),
        at: cmd.now,
    };
    let device_key: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
        [&license.id, &cmd.device_serial_number, &cmd.cs_product_uuid];
    match find_device(tx, &device_key).await? {
        // 6. A new device takes a free seat, if there is one.
        None => {
            let row = rows::query_opt(
                tx,
                "SELECT count(*), min(bound_on) FROM devices WHERE license_id = $1",
                &[&license.id],
            )
            .await
            .map_err(pg_error)?
            .ok_or_else(|| StoreError::Backend("counting seats returned nothing".into()))?;
            let taken: i64 = get(&row, 0)?;
            if taken >= i64::from(license.seats) {
                let first_bound: Option<chrono::NaiveDate> = get(&row, 1)?;
                let first_bound = first_bound.ok_or_else(|| {
                    StoreError::Backend("a taken seat has no binding date".into())
                })?;
                return refuse(Refusal::KeyBoundToAnotherDevice { first_bound });
            }
            rows::execute(
                tx,
                "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on) \
                 VALUES ($1, $2, $3, $4)",
                &[
                    &license.id,
                    &cmd.device_serial_number,
                    &cmd.cs_product_uuid,
                    &cmd.today,
                ],
            )
            .await
            .map_err(pg_error)?;
            let detail = format!(
                "device `{}` / `{}` bound: seat {} of {}",
                cmd.device_serial_number,
                cmd.cs_product_uuid,
                taken + 1,
                license.seats
            );
            journal::audit(
                tx,
                &actor,
                &AuditAction::DeviceBound,
                Some(&license.product_id),
                Some(license.id),
                &detail,
            )
            .await?;
        }
        // 7. A known device must report its last login (or the one before).
        Some(device) => {
            if device.locked {
                tracing::warn!(
                    license_id = license.id,
                    "start-session from a device locked after an integrity breach"
                );
                return refuse(Refusal::IntegrityBreachLastLogin);
            }
            if !last_login_matches(&device, cmd.last_login_reported_by_client) {
                rows::execute(
                    tx,
                    "UPDATE devices SET locked = TRUE WHERE license_id = $1 \
                     AND serial_number = $2 AND cs_product_uuid = $3",
                    &device_key,
                )
                .await
                .map_err(pg_error)?;
                let detail = format!(
                    "last login mismatch on device `{}` / `{}`: reported {}, recorded {} \
                     (before it {}); device locked",
                    cmd.device_serial_number,
                    cmd.cs_product_uuid,
                    show_time(cmd.last_login_reported_by_client),
                    show_time(device.last_login),
                    show_time(device.previous_last_login),
                );
                journal::audit(
                    tx,
                    &actor,
                    &AuditAction::IntegrityBreach,
                    Some(&license.product_id),
                    Some(license.id),
                    &detail,
                )
                .await?;
                tracing::warn!(license_id = license.id, "last-login integrity breach");
                return refuse(Refusal::IntegrityBreachLastLogin);
            }
        }
    }

    // 8. First activation fixes the dates.
    let (is_activated_now, activation_date, expiry_date) = match license.activation_date {
        Some(activation) => (false, activation, license.expiry_date),
        None => {
            let expiry = match license.duration {
                PlanDuration::Perpetual => None,
                duration => Some(duration.expiry(cmd.today).ok_or_else(|| {
                    StoreError::Invalid("the plan's expiry date is past the calendar's end".into())
                })?),
            };
            rows::execute(
                tx,
                "UPDATE licenses SET activation_date = $1, expiry_date = $2 WHERE id = $3",
                &[&cmd.today, &expiry, &license.id],
            )
            .await
            .map_err(pg_error)?;
            let detail = format!(
                "activated on plan `{}`, expires {}",
                license.plan_id,
                expiry.map_or("never".into(), dates::format_date)
            );
            journal::audit(
                tx,
                &actor,
                &AuditAction::LicenseActivated,
                Some(&license.product_id),
                Some(license.id),
                &detail,
            )
            .await?;
            (true, cmd.today, expiry)
        }
    };

    // 9. Record this login, shifting the last one to "previous".
    rows::execute(
        tx,
        "UPDATE devices SET previous_last_login = last_login, last_login = $4 \
         WHERE license_id = $1 AND serial_number = $2 AND cs_product_uuid = $3",
        &[
            &license.id,
            &cmd.device_serial_number,
            &cmd.cs_product_uuid,
            &cmd.client_time,
        ],
    )
    .await
    .map_err(pg_error)?;

    Ok(StartSessionOutcome::Ok {
        result: StartSessionResult {
            is_activated_now,
            activation_date: dates::format_date(activation_date),
            license_plan: license.plan_id,
            expiry_date: expiry_date.map(dates::format_date),
            session_token: cmd.session_token.clone(),
        },
        license_id: license.id,
    })
}

/// This device's binding to the license, if it has one.
async fn find_device(
    tx: &Transaction<'_>,
    device_key: rows::Params<'_>,
) -> Result<Option<DeviceBinding>, StoreError> {
    let sql = format!(
        "{} WHERE license_id = $1 AND serial_number = $2 AND cs_product_uuid = $3",
        rows::DEVICE_SELECT
    );
    rows::query_opt(tx, &sql, device_key)
        .await
        .map_err(pg_error)?
        .map(|row| rows::device_row(&row).map(|(_, device)| device))
        .transpose()
}
