//! The operator commands: products, plans, license keys, toggles, telemetry
//! and the audit log, run directly against the database.

use std::io::Write;
use std::sync::Arc;

use chrono::NaiveDate;
use serde_json::{json, Value as Json};
use skyline_protocol::dates::{format_date, parse_date, PlanDuration};
use skyline_protocol::license_key;
use skyline_protocol::methods::ToggleValue;
use skyline_server::license_index::{LicenseDigest, LicenseIndex};
use skyline_server::store::{
    Actor, AuditFilter, LicenseInfo, NewLicense, Plan, Product, Store, TelemetryQuery, ToggleLayer,
    ToggleScope,
};

use crate::cli::{
    AuditArgs, ExportFormat, LicenseCommand, PlanCommand, ProductCommand, TelemetryCommand,
    ToggleCommand,
};
use crate::CliError;

/// Keys created per transaction by `license create`.
const CREATE_BATCH: u32 = 1_000;
/// Rows read per page by exports.
const EXPORT_PAGE: u32 = 5_000;

/// What operator commands work with.
pub struct Operator {
    pub store: Arc<dyn Store>,
    pub index: LicenseIndex,
    pub json: bool,
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn actor() -> Actor {
    Actor::cli(now())
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn date_arg(text: &str) -> Result<NaiveDate, CliError> {
    parse_date(text).ok_or_else(|| CliError::new(format!("`{text}` is not a date; use YYYY-MM-DD")))
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
}

fn version_arg(text: &str) -> Result<String, CliError> {
    skyline_protocol::version::Version::parse(text)
        .map(|_| text.to_owned())
        .map_err(|e| CliError::new(e.to_string()))
}

fn product_json(p: &Product) -> Json {
    json!({"id": p.id, "minVersion": p.min_version, "enabled": p.enabled})
}

fn duration_text(d: PlanDuration) -> String {
    match d {
        PlanDuration::Months(1) => "1 month".into(),
        PlanDuration::Months(m) => format!("{m} months"),
        PlanDuration::Days(1) => "1 day".into(),
        PlanDuration::Days(d) => format!("{d} days"),
        PlanDuration::Perpetual => "perpetual".into(),
    }
}

fn plan_json(p: &Plan) -> Json {
    let (months, days) = match p.duration {
        PlanDuration::Months(m) => (Some(m), None),
        PlanDuration::Days(d) => (None, Some(d)),
        PlanDuration::Perpetual => (None, None),
    };
    json!({"id": p.id, "product": p.product_id, "months": months, "days": days,
           "perpetual": p.duration == PlanDuration::Perpetual, "devices": p.seats})
}

fn license_json(l: &LicenseInfo) -> Json {
    json!({
        "id": l.id, "product": l.product_id, "plan": l.plan_id, "key": l.key_suffix,
        "status": l.status.as_str(),
        "activationDate": l.activation_date.map(format_date),
        "expiryDate": l.expiry_date.map(format_date),
        "devices": l.devices.iter().map(|d| json!({
            "serialNumber": d.serial_number, "csProductUUID": d.cs_product_uuid,
            "boundOn": format_date(d.bound_on), "lastLogin": d.last_login,
            "previousLastLogin": d.previous_last_login, "locked": d.locked,
        })).collect::<Vec<_>>(),
    })
}

impl Operator {
    /// The digest of a key typed by the operator.
    fn digest(&self, typed: &str) -> Result<LicenseDigest, CliError> {
        let key = license_key::normalize(typed).ok_or_else(|| {
            CliError::new(
                "not a license key: expected 25 letters and digits, XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
            )
        })?;
        Ok(self.index.digest(&key))
    }

    pub async fn product(&self, command: ProductCommand) -> Result<(), CliError> {
        let product = match command {
            ProductCommand::Create { id, min_version } => {
                let min = version_arg(&min_version)?;
                self.store.create_product(&actor(), &id, &min).await?
            }
            ProductCommand::Update { id, min_version } => {
                let min = version_arg(&min_version)?;
                self.store.set_min_version(&actor(), &id, &min).await?
            }
            ProductCommand::Disable { id } => {
                self.store.set_product_enabled(&actor(), &id, false).await?
            }
            ProductCommand::Enable { id } => {
                self.store.set_product_enabled(&actor(), &id, true).await?
            }
            ProductCommand::List => {
                let products = self.store.list_products().await?;
                if self.json {
                    print_json(&Json::Array(products.iter().map(product_json).collect()));
                } else if products.is_empty() {
                    println!("no products yet; create one with `skyline product create ID --min-version V`");
                } else {
                    println!("{:<24} {:<12} STATUS", "PRODUCT", "MIN VERSION");
                    for p in &products {
                        let status = if p.enabled { "enabled" } else { "disabled" };
                        println!("{:<24} {:<12} {status}", p.id, p.min_version);
                    }
                }
                return Ok(());
            }
        };
        if self.json {
            print_json(&product_json(&product));
        } else {
            let status = if product.enabled {
                "enabled"
            } else {
                "disabled"
            };
            println!(
                "product {}: minimum version {}, {status}",
                product.id, product.min_version
            );
        }
        Ok(())
    }

    pub async fn plan(&self, command: PlanCommand) -> Result<(), CliError> {
        match command {
            PlanCommand::Create {
                plan_id,
                product,
                months,
                days,
                perpetual,
                devices,
            } => {
                let duration = match (months, days, perpetual) {
                    (Some(0), _, _) | (_, Some(0), _) => {
                        return Err(CliError::new("a plan's duration must be at least 1"))
                    }
                    (Some(m), None, false) => PlanDuration::Months(m),
                    (None, Some(d), false) => PlanDuration::Days(d),
                    (None, None, true) => PlanDuration::Perpetual,
                    _ => {
                        return Err(CliError::new(
                            "give the plan's duration: --months N, --days N or --perpetual",
                        ))
                    }
                };
                if devices == 0 {
                    return Err(CliError::new("a plan needs at least 1 device seat"));
                }
                let plan = Plan {
                    id: plan_id,
                    product_id: product,
                    duration,
                    seats: devices,
                };
                self.store.create_plan(&actor(), plan.clone()).await?;
                if self.json {
                    print_json(&plan_json(&plan));
                } else {
                    println!(
                        "plan {} of {}: {}, {} device{}",
                        plan.id,
                        plan.product_id,
                        duration_text(plan.duration),
                        plan.seats,
                        if plan.seats == 1 { "" } else { "s" }
                    );
                }
            }
            PlanCommand::List { product } => {
                let plans = self.store.list_plans(product.as_deref()).await?;
                if self.json {
                    print_json(&Json::Array(plans.iter().map(plan_json).collect()));
                } else {
                    println!(
                        "{:<40} {:<16} {:<12} DEVICES",
                        "PLAN", "PRODUCT", "DURATION"
                    );
                    for p in &plans {
                        println!(
                            "{:<40} {:<16} {:<12} {}",
                            p.id,
                            p.product_id,
                            duration_text(p.duration),
                            p.seats
                        );
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn license(&self, command: LicenseCommand) -> Result<(), CliError> {
        match command {
            LicenseCommand::Create { plan, count } => self.create_licenses(&plan, count).await,
            LicenseCommand::Show { key } => {
                let info = self.store.find_license(&self.digest(&key)?).await?;
                if self.json {
                    print_json(&license_json(&info));
                } else {
                    print_license(&info);
                }
                Ok(())
            }
            LicenseCommand::List { product } => {
                let licenses = self.store.list_licenses(product.as_deref()).await?;
                if self.json {
                    print_json(&Json::Array(licenses.iter().map(license_json).collect()));
                } else {
                    println!(
                        "{:<8} {:<10} {:<36} {:<8} {:<11} {:<11} DEVICES",
                        "ID", "KEY", "PLAN", "STATUS", "ACTIVATED", "EXPIRES"
                    );
                    for l in &licenses {
                        println!(
                            "{:<8} {:<10} {:<36} {:<8} {:<11} {:<11} {}",
                            l.id,
                            l.key_suffix,
                            l.plan_id,
                            l.status.as_str(),
                            l.activation_date
                                .map(format_date)
                                .unwrap_or_else(|| "-".into()),
                            l.expiry_date.map(format_date).unwrap_or_else(|| "-".into()),
                            l.devices.len()
                        );
                    }
                }
                Ok(())
            }
            LicenseCommand::Revoke { key } => {
                self.store
                    .revoke_license(&actor(), &self.digest(&key)?)
                    .await?;
                self.done(
                    json!({"revoked": true}),
                    "revoked: every later session of this key gets LICENSE_REVOKED",
                );
                Ok(())
            }
            LicenseCommand::ResetDevice { key, device } => {
                let n = self
                    .store
                    .reset_device(&actor(), &self.digest(&key)?, device.as_deref())
                    .await?;
                if n == 0 {
                    return Err(CliError::new(match device {
                        Some(serial) => format!("no device `{serial}` is bound to this key"),
                        None => "no device is bound to this key".into(),
                    }));
                }
                self.done(
                    json!({"reset": n}),
                    &format!(
                        "reset {n} device binding{}; the device binds again at its next start",
                        if n == 1 { "" } else { "s" }
                    ),
                );
                Ok(())
            }
            LicenseCommand::SetExpiry { key, date } => {
                let date = date_arg(&date)?;
                self.store
                    .set_expiry(&actor(), &self.digest(&key)?, date)
                    .await?;
                self.done(
                    json!({"expiryDate": format_date(date)}),
                    &format!("expiry date set to {}", format_date(date)),
                );
                Ok(())
            }
        }
    }

    fn done(&self, json: Json, text: &str) {
        if self.json {
            print_json(&json);
        } else {
            println!("{text}");
        }
    }

    async fn create_licenses(&self, plan: &str, count: u32) -> Result<(), CliError> {
        if count == 0 {
            return Err(CliError::new("--count must be at least 1"));
        }
        let plans = self.store.list_plans(None).await?;
        if !plans.iter().any(|p| p.id == plan) {
            return Err(CliError::new(format!(
                "plan `{plan}` not found; see `skyline plan list`"
            )));
        }
        let progress = (count >= 10_000 && !self.json).then(|| {
            let bar = indicatif::ProgressBar::new(u64::from(count));
            bar.set_style(
                indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} keys ({eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            bar
        });
        let mut created = Vec::new();
        let mut stdout = std::io::stdout().lock();
        let mut remaining = count;
        while remaining > 0 {
            let batch = remaining.min(CREATE_BATCH);
            let mut keys = Vec::with_capacity(batch as usize);
            let mut new = Vec::with_capacity(batch as usize);
            for _ in 0..batch {
                let key = license_key::generate()
                    .map_err(|_| CliError::new("the system random generator failed"))?;
                new.push(NewLicense {
                    digest: self.index.digest(&key),
                    last_group: license_key::last_group(&key).to_owned(),
                });
                keys.push(key);
            }
            self.store.create_licenses(&actor(), plan, new).await?;
            // Keys are printed only once they are committed.
            if self.json {
                created.extend(keys);
            } else {
                for key in &keys {
                    writeln!(stdout, "{key}").map_err(|e| CliError::new(e.to_string()))?;
                }
            }
            if let Some(bar) = &progress {
                bar.inc(u64::from(batch));
            }
            remaining -= batch;
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        if self.json {
            print_json(&json!({"plan": plan, "keys": created}));
        }
        Ok(())
    }

    pub async fn toggle(&self, command: ToggleCommand) -> Result<(), CliError> {
        match command {
            ToggleCommand::Set {
                name,
                value,
                product,
                plan,
                license,
            } => {
                if name.is_empty() || name.len() > 128 {
                    return Err(CliError::new("a toggle name must be 1 to 128 characters"));
                }
                let scope = match (plan, license) {
                    (Some(plan), None) => ToggleScope::Plan(plan),
                    (None, Some(key)) => ToggleScope::License(self.digest(&key)?),
                    _ => ToggleScope::Product,
                };
                let value = ToggleValue::parse_text(&value);
                self.store
                    .set_toggle(&actor(), &product, scope, &name, value.clone())
                    .await?;
                self.done(
                    json!({"name": name, "value": toggle_json(&value)}),
                    &format!("{name} = {value}"),
                );
            }
            ToggleCommand::List { product } => {
                let settings = self.store.list_toggles(&product).await?;
                if self.json {
                    let rows: Vec<Json> = settings
                        .iter()
                        .map(|s| json!({"layer": layer_text(&s.layer), "name": s.name, "value": toggle_json(&s.value)}))
                        .collect();
                    print_json(&Json::Array(rows));
                } else {
                    println!("{:<28} {:<48} VALUE", "LAYER", "NAME");
                    for s in &settings {
                        println!("{:<28} {:<48} {}", layer_text(&s.layer), s.name, s.value);
                    }
                }
            }
        }
        Ok(())
    }

    pub async fn telemetry(&self, command: TelemetryCommand) -> Result<(), CliError> {
        let TelemetryCommand::Export {
            product,
            since,
            format,
        } = command;
        let since = since.as_deref().map(date_arg).transpose()?.map(day_start);
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let io = |e: std::io::Error| CliError::new(e.to_string());
        if matches!(format, ExportFormat::Csv) {
            writeln!(out, "id,license_id,event,client_time,received_at,data").map_err(io)?;
        }
        let mut after_id = None;
        loop {
            let rows = self
                .store
                .export_telemetry(TelemetryQuery {
                    product_id: product.clone(),
                    since,
                    after_id,
                    limit: EXPORT_PAGE,
                })
                .await?;
            for row in &rows {
                let data = row.data.clone().unwrap_or(Json::Null);
                match format {
                    ExportFormat::Jsonl => writeln!(
                        out,
                        "{}",
                        json!({"id": row.id, "licenseId": row.license_id, "event": row.event,
                               "clientTime": row.client_time, "receivedAt": row.received_at, "data": data})
                    ),
                    ExportFormat::Csv => writeln!(
                        out,
                        "{},{},{},{},{},{}",
                        row.id, row.license_id, csv_field(&row.event), row.client_time, row.received_at,
                        csv_field(&data.to_string())
                    ),
                }
                .map_err(io)?;
            }
            match rows.last() {
                Some(last) if rows.len() == EXPORT_PAGE as usize => after_id = Some(last.id),
                _ => break,
            }
        }
        out.flush().map_err(io)
    }

    pub async fn audit(&self, args: AuditArgs) -> Result<(), CliError> {
        let filter = AuditFilter {
            license: args
                .license
                .as_deref()
                .map(|k| self.digest(k))
                .transpose()?,
            since: args
                .since
                .as_deref()
                .map(date_arg)
                .transpose()?
                .map(day_start),
            limit: None,
        };
        let records = self.store.list_audit(filter).await?;
        if self.json {
            let rows: Vec<Json> = records
                .iter()
                .map(|r| json!({"id": r.id, "at": r.at, "actor": r.actor, "action": r.action.as_str(),
                                "product": r.product_id, "licenseId": r.license_id, "key": r.key_suffix, "detail": r.detail}))
                .collect();
            print_json(&Json::Array(rows));
        } else {
            for r in &records {
                let when = chrono::DateTime::from_timestamp(r.at, 0)
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                    .unwrap_or_default();
                println!(
                    "{when}  {:<18} {:<16} {:<12} {:<10} {}",
                    r.action.as_str(),
                    r.actor,
                    r.product_id.as_deref().unwrap_or("-"),
                    r.key_suffix.as_deref().unwrap_or("-"),
                    r.detail
                );
            }
        }
        Ok(())
    }
}

fn print_license(l: &LicenseInfo) {
    println!("key:        {}", l.key_suffix);
    println!("product:    {}", l.product_id);
    println!("plan:       {}", l.plan_id);
    println!("status:     {}", l.status.as_str());
    println!(
        "activated:  {}",
        l.activation_date
            .map(format_date)
            .unwrap_or_else(|| "not yet".into())
    );
    println!(
        "expires:    {}",
        match (l.activation_date, l.expiry_date) {
            (None, _) => "-".into(),
            (Some(_), None) => "never".into(),
            (Some(_), Some(d)) => format_date(d),
        }
    );
    if l.devices.is_empty() {
        println!("devices:    none bound");
    }
    for d in &l.devices {
        println!(
            "device:     {} / {} bound {}, last login {}{}",
            d.serial_number,
            d.cs_product_uuid,
            format_date(d.bound_on),
            d.last_login
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            if d.locked {
                ", LOCKED (integrity breach; reset-device unlocks)"
            } else {
                ""
            }
        );
    }
}

fn toggle_json(value: &ToggleValue) -> Json {
    match value {
        ToggleValue::Int(i) => json!(i),
        ToggleValue::Float(f) => json!(f),
        ToggleValue::Bool(b) => json!(b),
        ToggleValue::String(s) => json!(s),
    }
}

fn layer_text(layer: &ToggleLayer) -> String {
    match layer {
        ToggleLayer::Product => "product".into(),
        ToggleLayer::Plan(p) => format!("plan {p}"),
        ToggleLayer::License { key_suffix, .. } => format!("license {key_suffix}"),
    }
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}
