//! `skyline license …`: create, show, list, revoke, reset a device, set the
//! expiry.

use std::io::Write;

use skyline_protocol::dates::format_date;
use skyline_server::domain::catalog::CreateLicenses;
use skyline_server::domain::licenses::{ResetDevices, RevokeLicense, SetExpiry};
use skyline_server::domain::{DeviceSelector, LicenseInfo};
use skyline_server::sanitize::Escaped;
use skyline_server::views::{CreatedLicenses, Expiry, LicenseView, Reset, Revoked};

use super::{actor, date_arg, stdout_error, Operator, CREATE_BATCH};
use crate::cli::LicenseCommand;
use crate::{print_json, CliError};

impl Operator {
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
            "device:     {} / {} bound {}, last login {}, app {}{}",
            Escaped::with_max(&d.serial_number, 128),
            Escaped::with_max(&d.cs_product_uuid, 128),
            format_date(d.bound_on),
            d.last_login
                .map(|t| t.to_string())
                .unwrap_or_else(|| "-".into()),
            Escaped::with_max(d.last_version.as_deref().unwrap_or("-"), 64),
            if d.locked {
                ", LOCKED (integrity breach; reset-device unlocks)"
            } else {
                ""
            }
        );
    }
}
