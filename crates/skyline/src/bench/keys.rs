//! License keys for the scenarios that hold sessions, created in the server's
//! database before the run through the [`Store`], the way `skyline product
//! create`, `plan create` and `license create` do it.
//!
//! The store keeps only digests of keys, so a run cannot reuse keys made
//! earlier: it creates its own (a few thousand per second). Each connection
//! gets its own device, named after the run, so a run never meets the
//! devices, last logins or integrity locks of an earlier one; and each
//! worker keeps the last login of its devices (`lastLoginReportedByClient`)
//! from one `start-session` to the next, as an app persists it.

use skyline_client::StartSessionRequest;
use skyline_protocol::dates::PlanDuration;
use skyline_protocol::{license_key, IdentityKeyPair};
use skyline_server::deployment::{identity, IdentityUse};
use skyline_server::domain::catalog::{CreateLicenses, CreatePlan, CreateProduct};
use skyline_server::domain::{Actor, Plan};
use skyline_server::store::Store;

use crate::cli::Global;
use crate::settings::{self, FileConfig};
use crate::CliError;

/// Keys created per transaction.
const BATCH: usize = 1_000;
/// The minimum version given to a product the bench creates.
const BENCH_MIN_VERSION: &str = "1.0.0";

/// The keys of one run and what a `start-session` with them needs.
#[derive(Debug)]
pub struct Keys {
    product: String,
    /// The product's minimum supported version, sent as `productVersion`.
    version: String,
    keys: Vec<String>,
    /// Unique per run: part of every device serial number.
    run: String,
}

impl Keys {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// A `start-session` for key number `key` (modulo the number of keys)
    /// from device number `device` of this run.
    pub fn request(&self, key: usize, device: u64, last_login: Option<i64>) -> StartSessionRequest {
        StartSessionRequest {
            product_id: self.product.clone(),
            product_version: self.version.clone(),
            language: Some("en".into()),
            last_login_reported_by_client: last_login,
            device_serial_number: format!("bench-{}-{device}", self.run),
            cs_product_uuid: "00000000-0000-0000-0000-00000000bec4".into(),
            license_key: self.keys[key % self.keys.len()].clone(),
        }
    }
}

/// Device seats per key so that `devices` devices, spread round-robin over
/// `keys` keys, all fit.
pub fn seats_for(devices: u64, keys: u32) -> u32 {
    u32::try_from(devices.div_ceil(u64::from(keys.max(1))))
        .unwrap_or(u32::MAX)
        .max(1)
}

/// The identity key in the data directory (never created here: a missing
/// key means the data directory is not the server's).
pub fn server_identity(global: &Global) -> Result<IdentityKeyPair, CliError> {
    let file = FileConfig::load(global)?;
    let path = settings::deployment_settings(global, &file).identity_path;
    identity::load(&path).map_err(|e| {
        CliError::usage(format!(
            "{e}\n(the bench reads the server's identity from its data directory: \
             give the server's --data-dir, or --identity-public)"
        ))
    })
}

/// Creates, in the server's database, the product (when missing), a
/// perpetual plan with `seats` device seats per key (when missing), and
/// `count` new keys on it.
pub async fn create(
    global: &Global,
    product: &str,
    count: u32,
    seats: u32,
) -> Result<Keys, CliError> {
    let deployment = settings::open(global, IdentityUse::Optional).await?;
    let created = create_in(&deployment.store, product, count, seats).await;
    deployment.close().await;
    created
}

async fn create_in(store: &Store, product: &str, count: u32, seats: u32) -> Result<Keys, CliError> {
    let now = chrono::Utc::now().timestamp();
    let by = Actor {
        name: "bench".into(),
        at: now,
    };
    let existing = store
        .list_products()
        .await?
        .into_iter()
        .find(|p| p.id == product);
    let version = match existing {
        Some(p) if !p.enabled => {
            return Err(CliError::usage(format!(
                "product {product} is disabled; enable it or bench another --product"
            )))
        }
        Some(p) => p.min_version,
        None => {
            let create = CreateProduct {
                id: product.to_owned(),
                min_version: BENCH_MIN_VERSION.to_owned(),
            };
            store.execute(create, &by).await?.min_version
        }
    };
    let plan_id = format!("{product}.bench.{seats}-seats");
    let plans = store.list_plans(Some(product)).await?;
    if !plans.iter().any(|p| p.id == plan_id) {
        let plan = Plan {
            id: plan_id.clone(),
            product_id: product.to_owned(),
            duration: PlanDuration::Perpetual,
            seats,
        };
        store.execute(CreatePlan(plan), &by).await?;
    }
    let mut keys = Vec::with_capacity(count as usize);
    while keys.len() < count as usize {
        let batch = BATCH.min(count as usize - keys.len());
        let (new_keys, records) = store
            .license_index()
            .generate_keys(batch)
            .map_err(|e| CliError::failed(e.to_string()))?;
        let command = CreateLicenses {
            plan_id: plan_id.clone(),
            keys: records,
        };
        store.execute(command, &by).await?;
        keys.extend(new_keys.iter().map(|k| k.to_string()));
    }
    let salt = license_key::generate()
        .map_err(|_| CliError::failed("the system random generator failed"))?;
    Ok(Keys {
        product: product.to_owned(),
        version,
        keys,
        run: format!("{now:x}-{}", &salt[..5]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enough_seats_for_every_device() {
        assert_eq!(seats_for(8, 8), 1);
        assert_eq!(seats_for(8, 1_000), 1);
        assert_eq!(seats_for(50_000, 1_000), 50);
        assert_eq!(seats_for(1_001, 1_000), 2);
        assert_eq!(seats_for(3, 0), 3);
    }

    #[tokio::test]
    async fn keys_are_created_once_per_run_on_a_bench_plan() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("db.sqlite").display());
        let store = skyline_server::store::open(&url, None).await.unwrap();
        let first = create_in(&store, "bench", 3, 2).await.unwrap();
        let second = create_in(&store, "bench", 2, 2).await.unwrap();
        assert_eq!((first.len(), second.len()), (3, 2));
        assert_eq!(store.list_licenses(Some("bench")).await.unwrap().len(), 5);
        let plans = store.list_plans(Some("bench")).await.unwrap();
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].seats, 2);
        let request = first.request(4, 7, Some(12));
        assert_eq!(request.license_key, first.keys[1]);
        assert_eq!(request.product_version, BENCH_MIN_VERSION);
        assert!(request.device_serial_number.ends_with("-7"));
        assert_eq!(request.last_login_reported_by_client, Some(12));
        store.close().await;
    }
}
