//! `skyline release publish|list|yank`: signed update artifacts, stored
//! content-addressed (in the releases directory, or in the database with
//! PostgreSQL) and recorded in the database. A running server serves them
//! at `/download/PRODUCT/latest` at once.

use skyline_server::deployment::Deployment;
use skyline_server::domain::releases::SetReleaseYanked;
use skyline_server::domain::{Release, ReleaseChannel, ReleaseRef};
use skyline_server::releases::{publish, PublishRequest};
use skyline_server::views::ReleaseView;

use crate::cli::{ChannelArg, ReleaseCommand};
use crate::operator::{actor, Operator};
use crate::{print_json, CliError};

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

/// Runs a release command; artifacts are kept where the deployment says.
pub async fn run(
    command: ReleaseCommand,
    operator: &Operator,
    deployment: &Deployment,
) -> Result<(), CliError> {
    let store = &operator.store;
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
                .map_err(|e| CliError::io(format!("cannot read {}", file.display()), e))?;
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
            let identity = deployment.identity()?;
            let release = publish(
                store,
                deployment.blobs.as_ref(),
                &identity,
                &actor(),
                request,
                &mut source,
                u64::MAX,
            )
            .await?;
            if operator.json {
                print_json(&ReleaseView::from(&release));
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
                print_json(&releases.iter().map(ReleaseView::from).collect::<Vec<_>>());
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
            let command = SetReleaseYanked {
                release: ReleaseRef {
                    product_id: product,
                    version,
                    platform,
                },
                yanked: !undo,
            };
            let release = store.execute(command, &actor()).await?;
            if operator.json {
                print_json(&ReleaseView::from(&release));
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
