//! The operator commands: products, plans, license keys (`licenses`),
//! toggles, telemetry and the audit log, run directly against the database.
//! Each change is a domain command run through the store; each `--json`
//! answer is a view.

use std::io::Write;

use chrono::NaiveDate;
use skyline_protocol::dates::{parse_date, PlanDuration};
use skyline_protocol::methods::ToggleValue;
use skyline_server::domain::catalog::{duration_of, CreatePlan, CreateProduct, UpdateProduct};
use skyline_server::domain::toggles::SetToggle;
use skyline_server::domain::{
    Actor, AuditFilter, Plan, Product, TelemetryQuery, ToggleLayer, ToggleScope,
};
use skyline_server::license_index::LicenseDigest;
use skyline_server::sanitize::Escaped;
use skyline_server::store::Store;
use skyline_server::views::{
    self, AuditView, PlanView, ProductView, ToggleSet, ToggleValueView, ToggleView,
};

mod licenses;

use crate::cli::{
    AuditArgs, ExportFormat, PlanCommand, ProductCommand, TelemetryCommand, ToggleCommand,
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
                // The actor and the detail may hold what a client sent
                // (an address, a device serial): escaped, never raw.
                println!(
                    "{when}  {:<18} {:<16} {:<12} {:<10} {}",
                    r.action.as_str(),
                    Escaped::with_max(&r.actor, 128).to_string(),
                    Escaped::with_max(r.product_id.as_deref().unwrap_or("-"), 128).to_string(),
                    r.key_suffix.as_deref().unwrap_or("-"),
                    Escaped::with_max(&r.detail, 2048)
                );
            }
        }
        Ok(())
    }
}

fn layer_text(layer: &ToggleLayer) -> String {
    match layer {
        ToggleLayer::Product => "product".into(),
        ToggleLayer::Plan(p) => format!("plan {p}"),
        ToggleLayer::License { key_suffix, .. } => format!("license {key_suffix}"),
    }
}
