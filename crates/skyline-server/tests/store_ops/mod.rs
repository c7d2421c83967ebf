//! The store suites' vocabulary: one short method per domain command, so a
//! suite reads as the operations it checks. Each runs the command through
//! [`Store::execute`], the road every front door takes.

#![allow(dead_code)]

use chrono::NaiveDate;
use skyline_protocol::methods::ToggleValue;
use skyline_server::domain::catalog::{CreateLicenses, CreatePlan, CreateProduct, UpdateProduct};
use skyline_server::domain::licenses::{ResetDevices, RevokeLicense, SetExpiry};
use skyline_server::domain::releases::{RecordRelease, SetReleaseYanked};
use skyline_server::domain::start_session::{StartSession, StartSessionOutcome};
use skyline_server::domain::toggles::{RemoveToggle, SetToggle};
use skyline_server::domain::tokens::{
    AppendAudit, CreateAdminToken, RecordAdminTokenUse, RevokeAdminToken,
};
use skyline_server::domain::{
    Actor, AdminToken, AuditEntry, DeviceKey, DeviceSelector, NewAdminToken, NewLicense,
    NewRelease, Plan, Product, Release, ReleaseRef, ToggleScope,
};
use skyline_server::license_index::LicenseDigest;
use skyline_server::store::{Store, StoreError};

/// A `start-session` as the suites write it: the request, the day it
/// arrives on, and who sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartSessionCommand {
    pub product_id: String,
    pub product_version: String,
    pub license_digest: Option<LicenseDigest>,
    pub device_serial_number: String,
    pub cs_product_uuid: String,
    pub last_login_reported_by_client: Option<i64>,
    pub client_time: i64,
    /// Today (UTC) by the server's clock: the command runs at noon of it.
    pub today: NaiveDate,
    pub session_token: String,
    pub source: Option<String>,
}

/// Noon UTC of a day, UNIX seconds.
pub fn noon(day: NaiveDate) -> i64 {
    day.and_hms_opt(12, 0, 0)
        .expect("a time")
        .and_utc()
        .timestamp()
}

#[allow(async_fn_in_trait)]
pub trait Ops {
    async fn start_session(
        &self,
        c: StartSessionCommand,
    ) -> Result<StartSessionOutcome, StoreError>;
    async fn create_product(&self, by: &Actor, id: &str, min: &str) -> Result<Product, StoreError>;
    async fn set_min_version(&self, by: &Actor, id: &str, min: &str)
        -> Result<Product, StoreError>;
    async fn set_product_enabled(
        &self,
        by: &Actor,
        id: &str,
        enabled: bool,
    ) -> Result<Product, StoreError>;
    async fn create_plan(&self, by: &Actor, plan: Plan) -> Result<Plan, StoreError>;
    async fn create_licenses(
        &self,
        by: &Actor,
        plan: &str,
        keys: Vec<NewLicense>,
    ) -> Result<usize, StoreError>;
    async fn revoke_license(&self, by: &Actor, key: &LicenseDigest) -> Result<(), StoreError>;
    async fn reset_device(
        &self,
        by: &Actor,
        key: &LicenseDigest,
        serial: Option<&str>,
    ) -> Result<usize, StoreError>;
    async fn set_expiry(
        &self,
        by: &Actor,
        key: &LicenseDigest,
        expiry: NaiveDate,
    ) -> Result<(), StoreError>;
    async fn set_toggle(
        &self,
        by: &Actor,
        product: &str,
        scope: ToggleScope,
        name: &str,
        value: ToggleValue,
    ) -> Result<(), StoreError>;
    async fn remove_toggle(
        &self,
        by: &Actor,
        product: &str,
        scope: ToggleScope,
        name: &str,
    ) -> Result<bool, StoreError>;
    async fn publish_release(
        &self,
        by: &Actor,
        release: NewRelease,
        min: Option<&str>,
    ) -> Result<Release, StoreError>;
    async fn set_release_yanked(
        &self,
        by: &Actor,
        release: &ReleaseRef,
        yanked: bool,
    ) -> Result<Release, StoreError>;
    async fn create_admin_token(
        &self,
        by: &Actor,
        token: NewAdminToken,
    ) -> Result<AdminToken, StoreError>;
    async fn revoke_admin_token(&self, by: &Actor, id: &str) -> Result<AdminToken, StoreError>;
    async fn record_admin_token_use(&self, id: &str, entry: AuditEntry) -> Result<(), StoreError>;
    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError>;
}

impl Ops for Store {
    async fn start_session(
        &self,
        c: StartSessionCommand,
    ) -> Result<StartSessionOutcome, StoreError> {
        let by = Actor {
            name: c.source.clone().unwrap_or_else(|| "rpc".into()),
            at: noon(c.today),
        };
        let command = StartSession {
            product_id: c.product_id,
            product_version: c.product_version,
            license_digest: c.license_digest,
            device: DeviceKey {
                serial_number: c.device_serial_number,
                cs_product_uuid: c.cs_product_uuid,
            },
            last_login_reported_by_client: c.last_login_reported_by_client,
            client_time: c.client_time,
            session_token: c.session_token,
            over_failed_key_limit: false,
        };
        self.execute(command, &by).await
    }

    async fn create_product(&self, by: &Actor, id: &str, min: &str) -> Result<Product, StoreError> {
        let command = CreateProduct {
            id: id.into(),
            min_version: min.into(),
        };
        self.execute(command, by).await
    }

    async fn set_min_version(
        &self,
        by: &Actor,
        id: &str,
        min: &str,
    ) -> Result<Product, StoreError> {
        let command = UpdateProduct {
            id: id.into(),
            min_version: Some(min.into()),
            enabled: None,
        };
        self.execute(command, by).await
    }

    async fn set_product_enabled(
        &self,
        by: &Actor,
        id: &str,
        enabled: bool,
    ) -> Result<Product, StoreError> {
        let command = UpdateProduct {
            id: id.into(),
            min_version: None,
            enabled: Some(enabled),
        };
        self.execute(command, by).await
    }

    async fn create_plan(&self, by: &Actor, plan: Plan) -> Result<Plan, StoreError> {
        self.execute(CreatePlan(plan), by).await
    }

    async fn create_licenses(
        &self,
        by: &Actor,
        plan: &str,
        keys: Vec<NewLicense>,
    ) -> Result<usize, StoreError> {
        let command = CreateLicenses {
            plan_id: plan.into(),
            keys,
        };
        self.execute(command, by).await
    }

    async fn revoke_license(&self, by: &Actor, key: &LicenseDigest) -> Result<(), StoreError> {
        self.execute(RevokeLicense { license: *key }, by).await
    }

    async fn reset_device(
        &self,
        by: &Actor,
        key: &LicenseDigest,
        serial: Option<&str>,
    ) -> Result<usize, StoreError> {
        let which = match serial {
            Some(serial) => DeviceSelector::Serial(serial.into()),
            None => DeviceSelector::All,
        };
        let command = ResetDevices {
            license: *key,
            which,
        };
        self.execute(command, by).await
    }

    async fn set_expiry(
        &self,
        by: &Actor,
        key: &LicenseDigest,
        expiry: NaiveDate,
    ) -> Result<(), StoreError> {
        let command = SetExpiry {
            license: *key,
            expiry,
        };
        self.execute(command, by).await
    }

    async fn set_toggle(
        &self,
        by: &Actor,
        product: &str,
        scope: ToggleScope,
        name: &str,
        value: ToggleValue,
    ) -> Result<(), StoreError> {
        let command = SetToggle {
            product_id: product.into(),
            scope,
            name: name.into(),
            value,
        };
        self.execute(command, by).await
    }

    async fn remove_toggle(
        &self,
        by: &Actor,
        product: &str,
        scope: ToggleScope,
        name: &str,
    ) -> Result<bool, StoreError> {
        let command = RemoveToggle {
            product_id: product.into(),
            scope,
            name: name.into(),
        };
        self.execute(command, by).await
    }

    async fn publish_release(
        &self,
        by: &Actor,
        release: NewRelease,
        min: Option<&str>,
    ) -> Result<Release, StoreError> {
        let (product, version, platform) = (
            release.product_id.clone(),
            release.version.clone(),
            release.platform.clone(),
        );
        let command = RecordRelease {
            release,
            min_version: min.map(str::to_owned),
        };
        self.execute(command, by).await?;
        let recorded = self.list_releases(&product).await?;
        Ok(recorded
            .into_iter()
            .rev()
            .find(|r| r.version == version && r.platform == platform)
            .expect("the release just recorded"))
    }

    async fn set_release_yanked(
        &self,
        by: &Actor,
        release: &ReleaseRef,
        yanked: bool,
    ) -> Result<Release, StoreError> {
        let command = SetReleaseYanked {
            release: release.clone(),
            yanked,
        };
        self.execute(command, by).await
    }

    async fn create_admin_token(
        &self,
        by: &Actor,
        token: NewAdminToken,
    ) -> Result<AdminToken, StoreError> {
        self.execute(CreateAdminToken(token), by).await
    }

    async fn revoke_admin_token(&self, by: &Actor, id: &str) -> Result<AdminToken, StoreError> {
        self.execute(RevokeAdminToken { id: id.into() }, by).await
    }

    async fn record_admin_token_use(&self, id: &str, entry: AuditEntry) -> Result<(), StoreError> {
        let by = entry.actor.clone();
        let command = RecordAdminTokenUse {
            id: id.into(),
            entry,
        };
        self.execute(command, &by).await
    }

    async fn append_audit(&self, entry: AuditEntry) -> Result<(), StoreError> {
        let by = entry.actor.clone();
        self.execute(AppendAudit(entry), &by).await
    }
}
