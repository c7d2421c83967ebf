//! `skyline release publish|list|yank`: signed update artifacts, stored
//! content-addressed (in the releases directory, or in the database with
//! PostgreSQL) and recorded in the database. A running server serves them
//! at `/download/PRODUCT/latest` at once.

use serde_json::Value as Json;
use skyline_protocol::IdentityKeyPair;
use skyline_server::admin::release_json;
use skyline_server::releases::{blob_store, publish, PublishRequest};
use skyline_server::store::{Actor, Release, ReleaseChannel, ReleaseRef};
use skyline_server::ReleaseStorage;

use crate::cli::{ChannelArg, ReleaseCommand};
use crate::operator::Operator;
use crate::CliError;

fn actor() -> Actor {
    Actor::cli(chrono::Utc::now().timestamp())
}

fn print_json(value: &Json) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_default()
    );
}

fn describe(r: &Release) -> String {
    format!(
        "{} {}{} ({})",
        r.product_id,
        r.version,
        r.platform
            .as_deref()
            .map(|p| format!(" for {p}"))
            .unwrap_or_default(),
        r.channel.as_str()
    )
}

/// Runs a release command; artifacts are kept in `storage`.
pub async fn run(
    command: ReleaseCommand,
    operator: &Operator,
    identity: &IdentityKeyPair,
    storage: &ReleaseStorage,
) -> Result<(), CliError> {
    let store = operator.store.as_ref();
    match command {
        ReleaseCommand::Publish {
            product,
            version,
            platform,
            channel,
            min_version,
            name,
            file,
        } => {
            let file_name = match name {
                Some(name) => name,
                None => file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            };
            let mut source = tokio::fs::File::open(&file)
                .await
                .map_err(|e| CliError::new(format!("cannot read {}: {e}", file.display())))?;
            let request = PublishRequest {
                product_id: product,
                version,
                platform,
                channel: match channel {
                    ChannelArg::Stable => ReleaseChannel::Stable,
                    ChannelArg::Beta => ReleaseChannel::Beta,
                },
                file_name,
                min_version: min_version.clone(),
            };
            let blobs = blob_store(storage, store).ok_or_else(|| {
                CliError::new(format!(
                    "release artifacts cannot be kept in {}",
                    crate::serve::describe_storage(storage)
                ))
            })?;
            let release = publish(
                store,
                blobs.as_ref(),
                identity,
                &actor(),
                request,
                &mut source,
                u64::MAX,
            )
            .await
            .map_err(|e| CliError::new(e.to_string()))?;
            if operator.json {
                print_json(&release_json(&release));
            } else {
                println!(
                    "published {}: {}, {} bytes",
                    describe(&release),
                    release.file_name,
                    release.size
                );
                println!("sha256 {}", hex::encode(release.sha256));
                if let Some(min) = min_version {
                    println!(
                        "minimum supported version of {} is now {min}",
                        release.product_id
                    );
                }
                println!(
                    "download: /download/{}/latest{}",
                    release.product_id,
                    release
                        .platform
                        .as_deref()
                        .map(|p| format!("?platform={p}"))
                        .unwrap_or_default()
                );
            }
        }
        ReleaseCommand::List { product } => {
            let releases = store.list_releases(&product).await?;
            if operator.json {
                print_json(&Json::Array(releases.iter().map(release_json).collect()));
            } else {
                println!(
                    "{:<12} {:<14} {:<7} {:>12} {:<7} {:<20} {:<16} FILE",
                    "VERSION", "PLATFORM", "CHANNEL", "SIZE", "YANKED", "PUBLISHED", "SHA256"
                );
                for r in &releases {
                    let published = chrono::DateTime::from_timestamp(r.published_at, 0)
                        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
                        .unwrap_or_default();
                    println!(
                        "{:<12} {:<14} {:<7} {:>12} {:<7} {:<20} {:<16} {}",
                        r.version,
                        r.platform.as_deref().unwrap_or("any"),
                        r.channel.as_str(),
                        r.size,
                        if r.yanked { "yes" } else { "no" },
                        published,
                        &hex::encode(r.sha256)[..16],
                        r.file_name
                    );
                }
            }
        }
        ReleaseCommand::Yank {
            product,
            version,
            platform,
            undo,
        } => {
            let target = ReleaseRef {
                product_id: product,
                version,
                platform,
            };
            let release = store.set_release_yanked(&actor(), &target, !undo).await?;
            if operator.json {
                print_json(&release_json(&release));
            } else if undo {
                println!("restored {}", describe(&release));
            } else {
                println!(
                    "yanked {}: no longer offered or downloadable",
                    describe(&release)
                );
            }
        }
    }
    Ok(())
}
