//! `skyline admin-token create|list|revoke`: bearer tokens of the admin HTTP
//! API. A token is printed once, at creation; the database keeps only the
//! SHA-256 of its secret.

use serde_json::{json, Value as Json};
use skyline_server::admin::auth::generate_token;
use skyline_server::admin::token_json;
use skyline_server::store::Actor;

use crate::cli::AdminTokenCommand;
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

fn when(at: Option<i64>) -> String {
    at.and_then(|t| chrono::DateTime::from_timestamp(t, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_else(|| "-".into())
}

/// Runs an admin-token command.
pub async fn run(command: AdminTokenCommand, operator: &Operator) -> Result<(), CliError> {
    let store = operator.store.as_ref();
    match command {
        AdminTokenCommand::Create { name, read_only } => {
            let generated =
                generate_token(&name, read_only).map_err(|e| CliError::new(e.to_string()))?;
            let token = store
                .create_admin_token(&actor(), generated.record.clone())
                .await?;
            if operator.json {
                let mut shown = token_json(&token);
                shown["token"] = json!(generated.text);
                print_json(&shown);
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
                print_json(&Json::Array(tokens.iter().map(token_json).collect()));
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
            let token = store.revoke_admin_token(&actor(), &id).await?;
            if operator.json {
                print_json(&token_json(&token));
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
