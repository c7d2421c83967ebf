//! The operator commands: products, plans, license keys, toggles, telemetry
//! and the audit log, run directly against the database. Each change is a
//! domain command run through the store; each `--json` answer is a view.

use std::io::Write;

use chrono::NaiveDate;
use skyline_protocol::dates::{format_date, parse_date, PlanDuration};
use skyline_protocol::methods::ToggleValue;
use skyline_server::domain::catalog::{
    duration_of, CreateLicenses, CreatePlan, CreateProduct, UpdateProduct,
};
use skyline_server::domain::licenses::{ResetDevices, RevokeLicense, SetExpiry};
use skyline_server::domain::toggles::SetToggle;
use skyline_server::domain::{
    Actor, AuditFilter, DeviceSelector, LicenseInfo, Plan, Product, TelemetryQuery, ToggleLayer,
    ToggleScope,
};
use skyline_server::license_index::LicenseDigest;
use skyline_server::store::Store;
use skyline_server::views::{
    self, AuditView, CreatedLicenses, Expiry, LicenseView, PlanView, ProductView, Reset, Revoked,
    ToggleSet, ToggleValueView, ToggleView,
};

use crate::cli::{
    AuditArgs, ExportFormat, LicenseCommand, PlanCommand, ProductCommand, TelemetryCommand,
    ToggleCommand,
};
use crate::{print_json, CliError};

/// Keys created per transaction by `license create`.
const CREATE_BATCH: usize = 1_000;
/// Rows read per page by exports.
const EXPORT_PAGE: u32 = 5_000;

/// What operator commands work with.
pub struct Operator {
    pub store: Store,
    pub json: bool,
}

/// The command line, now.
pub fn actor() -> Actor {
    Actor::cli(chrono::Utc::now().timestamp())
}

fn date_arg(text: &str) -> Result<NaiveDate, CliError> {
    parse_date(text)
        .ok_or_else(|| CliError::usage(format!("`{text}` is not a date; use YYYY-MM-DD")))
}

fn day_start(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc().timestamp())
        .unwrap_or_default()
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

fn stdout_error(e: std::io::Error) -> CliError {
    CliError::io("cannot write to standard output", e)
}

impl Operator {
    /// The digest of a key typed by the operator.
    fn digest(&self, typed: &str) -> Result<LicenseDigest, CliError> {
        self.store
            .license_index()
            .digest_typed(typed)
            .ok_or_else(|| {
                CliError::usage(
                    "not a license key: expected 25 letters and digits, \
                     XXXXX-XXXXX-XXXXX-XXXXX-XXXXX",
                )
            })
    }

    /// Prints `view` as JSON, or `text`.
    pub fn show(&self, view: &impl serde::Serialize, text: &str) {
        if self.json {
            print_json(view);
        } else {
            println!("{text}");
        }
    }

    pub async fn product(&self, command: ProductCommand) -> Result<(), CliError> {
        let product: Product = match command {
            ProductCommand::Create { id, min_version } => {
                self.store
                    .execute(CreateProduct { id, min_version }, &actor())
                    .await?
            }
            ProductCommand::Update { id, min_version } => {
                let update = UpdateProduct {
                    id,
                    min_version: Some(min_version),
                    enabled: None,
                };
                self.store.execute(update, &actor()).await?
            }
            ProductCommand::Disable { id } => self.set_enabled(id, false).await?,
            ProductCommand::Enable { id } => self.set_enabled(id, true).await?,
            ProductCommand::List => {
                let products = self.store.list_products().await?;
                if self.json {
                    print_json(&products.iter().map(ProductView::from).collect::<Vec<_>>());
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
        let status = if product.enabled {
            "enabled"
        } else {
            "disabled"
        };
        self.show(
            &ProductView::from(&product),
            &format!(
                "product {}: minimum version {}, {status}",
                product.id, product.min_version
            ),
        );
        Ok(())
    }

    async fn set_enabled(&self, id: String, enabled: bool) -> Result<Product, CliError> {
        let update = UpdateProduct {
            id,
            min_version: None,
            enabled: Some(enabled),
        };
        Ok(self.store.execute(update, &actor()).await?)
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
                let plan = Plan {
                    id: plan_id,
                    product_id: product,
                    duration: duration_of(months, days, perpetual)
                        .map_err(|e| CliError::Store(e.into()))?,
                    seats: devices,
                };
                let plan = self.store.execute(CreatePlan(plan), &actor()).await?;
                self.show(
                    &PlanView::from(&plan),
                    &format!(
                        "plan {} of {}: {}, {} device{}",
                        plan.id,
                        plan.product_id,
                        duration_text(plan.duration),
                        plan.seats,
                        if plan.seats == 1 { "" } else { "s" }
                    ),
                );
            }
            PlanCommand::List { product } => {
                let plans = self.store.list_plans(product.as_deref()).await?;
                if self.json {
                    print_json(&plans.iter().map(PlanView::from).collect::<Vec<_>>());
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
                    print_json(&LicenseView::from(&info));
                } else {
                    print_license(&info);
                }
                Ok(())
            }
            LicenseCommand::List { product } => {
                let licenses = self.store.list_licenses(product.as_deref()).await?;
                if self.json {
                    print_json(&licenses.iter().map(LicenseView::from).collect::<Vec<_>>());
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
                let command = RevokeLicense {
                    license: self.digest(&key)?,
                };
                self.store.execute(command, &actor()).await?;
                self.show(
                    &Revoked { revoked: true },
                    "revoked: every later session of this key gets LICENSE_REVOKED",
                );
                Ok(())
            }
            LicenseCommand::ResetDevice { key, device } => {
                let command = ResetDevices {
                    license: self.digest(&key)?,
                    which: match &device {
                        Some(serial) => DeviceSelector::Serial(serial.clone()),
                        None => DeviceSelector::All,
                    },
                };
                let n = self.store.execute(command, &actor()).await?;
                if n == 0 {
                    return Err(CliError::usage(match device {
                        Some(serial) => format!("no device `{serial}` is bound to this key"),
                        None => "no device is bound to this key".into(),
                    }));
                }
                self.show(
                    &Reset { reset: n },
                    &format!(
                        "reset {n} device binding{}; the device binds again at its next start",
                        if n == 1 { "" } else { "s" }
                    ),
                );
                Ok(())
            }
            LicenseCommand::SetExpiry { key, date } => {
                let date = date_arg(&date)?;
                let command = SetExpiry {
                    license: self.digest(&key)?,
                    expiry: date,
                };
                self.store.execute(command, &actor()).await?;
                self.show(
                    &Expiry {
                        expiry_date: format_date(date),
                    },
                    &format!("expiry date set to {}", format_date(date)),
                );
                Ok(())
            }
        }
    }

    async fn create_licenses(&self, plan: &str, count: u32) -> Result<(), CliError> {
        if count == 0 {
            return Err(CliError::usage("--count must be at least 1"));
        }
        let plans = self.store.list_plans(None).await?;
        if !plans.iter().any(|p| p.id == plan) {
            return Err(CliError::usage(format!(
                "plan `{plan}` not found; see `skyline plan list`"
            )));
        }
        let count = count as usize;
        let progress = (count >= 10_000 && !self.json).then(|| {
            let bar = indicatif::ProgressBar::new(count as u64);
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
            let (keys, records) = self
                .store
                .license_index()
                .generate_keys(batch)
                .map_err(|e| CliError::failed(e.to_string()))?;
            let command = CreateLicenses {
                plan_id: plan.to_owned(),
                keys: records,
            };
            self.store.execute(command, &actor()).await?;
            // Keys are printed only once they are committed.
            if self.json {
                created.extend(keys.iter().map(|k| k.to_string()));
            } else {
                for key in &keys {
                    writeln!(stdout, "{}", key.as_str()).map_err(stdout_error)?;
                }
            }
            if let Some(bar) = &progress {
                bar.inc(batch as u64);
            }
            remaining -= batch;
        }
        if let Some(bar) = progress {
            bar.finish_and_clear();
        }
        if self.json {
            print_json(&CreatedLicenses {
                plan: plan.to_owned(),
                keys: created,
            });
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
                let scope = match (plan, license) {
                    (Some(plan), None) => ToggleScope::Plan(plan),
                    (None, Some(key)) => ToggleScope::License(self.digest(&key)?),
                    _ => ToggleScope::Product,
                };
                let value = ToggleValue::parse_text(&value);
                let command = SetToggle {
                    product_id: product,
                    scope,
                    name: name.clone(),
                    value: value.clone(),
                };
                self.store.execute(command, &actor()).await?;
                self.show(
                    &ToggleSet {
                        name: name.clone(),
                        value: ToggleValueView::from(&value),
                    },
                    &format!("{name} = {value}"),
                );
            }
            ToggleCommand::List { product } => {
                let settings = self.store.list_toggles(&product).await?;
                if self.json {
                    print_json(&settings.iter().map(ToggleView::from).collect::<Vec<_>>());
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
        let format = match format {
            ExportFormat::Jsonl => views::ExportFormat::Jsonl,
            ExportFormat::Csv => views::ExportFormat::Csv,
        };
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        if format == views::ExportFormat::Csv {
            out.write_all(views::CSV_HEADER.as_bytes())
                .map_err(stdout_error)?;
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
                out.write_all(views::export_line(row, format).as_bytes())
                    .map_err(stdout_error)?;
            }
            match rows.last() {
                Some(last) if rows.len() == EXPORT_PAGE as usize => after_id = Some(last.id),
                _ => break,
            }
        }
        out.flush().map_err(stdout_error)
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
            print_json(&records.iter().map(AuditView::from).collect::<Vec<_>>());
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

fn layer_text(layer: &ToggleLayer) -> String {
    match layer {
        ToggleLayer::Product => "product".into(),
        ToggleLayer::Plan(p) => format!("plan {p}"),
        ToggleLayer::License { key_suffix, .. } => format!("license {key_suffix}"),
    }
}
