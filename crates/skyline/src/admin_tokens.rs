//! `skyline admin-token create|list|revoke`: bearer tokens of the admin HTTP
//! API. A token is printed once, at creation; the database keeps only the
//! SHA-256 of its secret.

use skyline_server::admin::auth::generate_token;
use skyline_server::domain::tokens::{CreateAdminToken, RevokeAdminToken};
use skyline_server::views::{AdminTokenView, CreatedAdminToken};

use crate::cli::AdminTokenCommand;
use crate::operator::{actor, Operator};
use crate::{print_json, CliError};

fn when(at: Option<i64>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Runs an admin-token command.
pub async fn run(command: AdminTokenCommand, operator: &Operator) -> Result<(), CliError> {
    let store = &operator.store;
    match command {
        AdminTokenCommand::Create { name, read_only } => {
            let generated =
                generate_token(&name, read_only).map_err(|e| CliError::failed(e.to_string()))?;
            let token = store
                .execute(CreateAdminToken(generated.record.clone()), &actor())
                .await?;
            if operator.json {
                print_json(&CreatedAdminToken {
                    view: AdminTokenView::from(&token),
                    token: generated.text.clone(),
                });
            } else {
                println!(
                    "created admin token `{}` (id {}, {})",
                    token.name,
                    token.id,
                    if token.read_only {
                        "read-only"
                    } else {
                        "read-write"
                    }
                );
                println!("{}", generated.text);
                println!(
                    "Keep it now: it is not shown again. Send it as `Authorization: Bearer TOKEN`."
                );
            }
        }
        AdminTokenCommand::List => {
            let tokens = store.list_admin_tokens().await?;
            if operator.json {
                print_json(&tokens.iter().map(AdminTokenView::from).collect::<Vec<_>>());
            } else {
                println!(
                    "{:<17} {:<24} {:<10} {:<17} {:<17} REVOKED",
                    "ID", "NAME", "ACCESS", "CREATED", "LAST USED"
                );
                for t in &tokens {
                    println!(
                        "{:<17} {:<24} {:<10} {:<17} {:<17} {}",
                        t.id,
                        t.name,
                        if t.read_only {
                            "read-only"
                        } else {
                            "read-write"
                        },
                        when(Some(t.created_at)),
                        when(t.last_used_at),
                        when(t.revoked_at)
                    );
                }
            }
        }
        AdminTokenCommand::Revoke { id } => {
            let token = store.execute(RevokeAdminToken { id }, &actor()).await?;
            if operator.json {
                print_json(&AdminTokenView::from(&token));
            } else {
                println!(
                    "revoked admin token `{}` ({}): it is refused from now on",
                    token.name, token.id
                );
            }
        }
    }
    Ok(())
}
