//! `start-session`: PROTOCOL.md section 6, steps 1–9, run by the writer in one
//! transaction.

use rusqlite::{params, Connection, OptionalExtension};
use skyline_protocol::dates::{self, PlanDuration};
use skyline_protocol::methods::StartSessionResult;

use super::rows::{self, Day};
use super::{backend_error, journal};
use crate::store::rules::{self, last_login_matches, show_time as show};
use crate::store::{
    Actor, AuditAction, DeviceBinding, Refusal, StartSessionCommand, StartSessionOutcome,
    StoreError,
};

/// Decides one `start-session`. Refusals are `Ok`, so what they change (a
/// locked device, the audit entry) is committed with the group.
pub(super) fn start_session(
    conn: &Connection,
    cmd: &StartSessionCommand,
) -> Result<StartSessionOutcome, StoreError> {
    let refuse = |refusal| Ok(StartSessionOutcome::Refused(refusal));

    // 1. Product known and enabled.
    let Some(product) = rows::product(conn, &cmd.product_id)?.filter(|p| p.enabled) else {
        return refuse(Refusal::UnknownProduct);
    };

    // 2. Version at least the product's minimum.
    if let Some(refusal) =
        rules::outdated_version(&product.id, &product.min_version, &cmd.product_version)?
    {
        return refuse(refusal);
    }

    // 3. Key exists for this product (a malformed key has no digest).
    let license = match &cmd.license_digest {
        Some(digest) => rows::license_by_digest(conn, digest)?,
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
    let device = find_device(conn, license.id, cmd)?;
    match device {
        // 6. A new device takes a free seat, if there is one.
        None => {
            let (taken, first_bound): (u32, Option<Day>) = conn
                .prepare_cached("SELECT count(*), min(bound_on) FROM devices WHERE license_id = ?1")
                .and_then(|mut s| s.query_row([license.id], |r| Ok((r.get(0)?, r.get(1)?))))
                .map_err(backend_error)?;
            if taken >= license.seats {
                let first_bound = first_bound
                    .ok_or_else(|| StoreError::Backend("a taken seat has no binding date".into()))?
                    .0;
                return refuse(Refusal::KeyBoundToAnotherDevice { first_bound });
            }
            conn.prepare_cached(
                "INSERT INTO devices (license_id, serial_number, cs_product_uuid, bound_on) \
                 VALUES (?1, ?2, ?3, ?4)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    license.id,
                    cmd.device_serial_number,
                    cmd.cs_product_uuid,
                    Day(cmd.today)
                ])
            })
            .map_err(backend_error)?;
            let detail = format!(
                "device `{}` / `{}` bound: seat {} of {}",
                cmd.device_serial_number,
                cmd.cs_product_uuid,
                taken + 1,
                license.seats
            );
            journal::audit(
                conn,
                &actor,
                &AuditAction::DeviceBound,
                Some(&license.product_id),
                Some(license.id),
                &detail,
            )?;
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
                conn.prepare_cached(
                    "UPDATE devices SET locked = 1 WHERE license_id = ?1 \
                     AND serial_number = ?2 AND cs_product_uuid = ?3",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        license.id,
                        cmd.device_serial_number,
                        cmd.cs_product_uuid
                    ])
                })
                .map_err(backend_error)?;
                let detail = format!(
                    "last login mismatch on device `{}` / `{}`: reported {}, recorded {} \
                     (before it {}); device locked",
                    cmd.device_serial_number,
                    cmd.cs_product_uuid,
                    show(cmd.last_login_reported_by_client),
                    show(device.last_login),
                    show(device.previous_last_login),
                );
                journal::audit(
                    conn,
                    &actor,
                    &AuditAction::IntegrityBreach,
                    Some(&license.product_id),
                    Some(license.id),
                    &detail,
                )?;
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
            conn.prepare_cached(
                "UPDATE licenses SET activation_date = ?1, expiry_date = ?2 WHERE id = ?3",
            )
            .and_then(|mut s| s.execute(params![Day(cmd.today), expiry.map(Day), license.id]))
            .map_err(backend_error)?;
            let detail = format!(
                "activated on plan `{}`, expires {}",
                license.plan_id,
                expiry.map_or("never".into(), dates::format_date)
            );
            journal::audit(
                conn,
                &actor,
                &AuditAction::LicenseActivated,
                Some(&license.product_id),
                Some(license.id),
                &detail,
            )?;
            (true, cmd.today, expiry)
        }
    };

    // 9. Record this login, shifting the last one to "previous".
    conn.prepare_cached(
        "UPDATE devices SET previous_last_login = last_login, last_login = ?1 \
         WHERE license_id = ?2 AND serial_number = ?3 AND cs_product_uuid = ?4",
    )
    .and_then(|mut s| {
        s.execute(params![
            cmd.client_time,
            license.id,
            cmd.device_serial_number,
            cmd.cs_product_uuid
        ])
    })
    .map_err(backend_error)?;

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
fn find_device(
    conn: &Connection,
    license_id: i64,
    cmd: &StartSessionCommand,
) -> Result<Option<DeviceBinding>, StoreError> {
    conn.prepare_cached(&format!(
        "{} WHERE license_id = ?1 AND serial_number = ?2 AND cs_product_uuid = ?3",
        rows::DEVICE_SELECT
    ))
    .and_then(|mut s| {
        s.query_row(
            params![license_id, cmd.device_serial_number, cmd.cs_product_uuid],
            rows::device_row,
        )
        .optional()
    })
    .map(|found| found.map(|(_, device)| device))
    .map_err(backend_error)
}
