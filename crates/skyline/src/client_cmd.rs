//! `skyline client start-session`: a debugging client built on the client
//! crate. It prints the server's answer, or the status and message of a refusal.

use serde_json::json;
use skyline_client::{Client, ClientError};
use skyline_protocol::methods::StartSessionRequest;
use skyline_protocol::IdentityPublicKey;

use crate::cli::ClientCommand;
use crate::CliError;

pub async fn run(command: ClientCommand, as_json: bool) -> Result<(), CliError> {
    let ClientCommand::StartSession(args) = command;
    let pinned = IdentityPublicKey::from_hex(&args.identity_public)
        .map_err(|e| CliError::usage(format!("--identity-public: {e}")))?;
    let mut client = Client::connect(&args.url, pinned)
        .await
        .map_err(|e| CliError::failed(format!("cannot connect to {}: {e}", args.url)))?;
    let request = StartSessionRequest {
        product_id: args.product,
        product_version: args.product_version,
        language: args.language,
        last_login_reported_by_client: args.last_login,
        device_serial_number: args.serial,
        cs_product_uuid: args.uuid,
        license_key: args.key,
    };
    let started = match client.start_session(request).await {
        Ok(s) => s,
        Err(ClientError::Rpc(e)) => {
            if as_json {
                println!(
                    "{}",
                    json!({"status": e.status().as_str(), "message": e.message()})
                );
            } else {
                println!("{}: {}", e.status(), e.message());
            }
            return Err(CliError::failed(format!(
                "the server refused the session ({})",
                e.status()
            )));
        }
        Err(e) => return Err(CliError::failed(e.to_string())),
    };
    let toggles = if args.toggles {
        Some(
            client
                .get_feature_toggles()
                .await
                .map_err(|e| CliError::failed(format!("get-feature-toggles: {e}")))?,
        )
    } else {
        None
    };
    let r = &started.result;
    if as_json {
        let toggles = toggles.map(|t| {
            t.0.iter()
                .map(|(k, v)| (k.clone(), json!(v.to_string())))
                .collect::<serde_json::Map<_, _>>()
        });
        println!(
            "{}",
            json!({
                "status": "OK", "isActivatedNow": r.is_activated_now,
                "activationDate": r.activation_date, "licensePlan": r.license_plan,
                "expiryDate": r.expiry_date, "sessionToken": r.session_token,
                "lastLoginToPersist": started.last_login_to_persist, "toggles": toggles,
            })
        );
    } else {
        println!("OK");
        println!("activated now:   {}", r.is_activated_now);
        println!("activation date: {}", r.activation_date);
        println!("plan:            {}", r.license_plan);
        println!(
            "expiry date:     {}",
            r.expiry_date.as_deref().unwrap_or("never")
        );
        println!("session token:   {}", r.session_token);
        println!("next start: --last-login {}", started.last_login_to_persist);
        for (name, value) in toggles.iter().flat_map(|t| t.0.iter()) {
            println!("toggle {name} = {value}");
        }
    }
    let _ = client.close().await;
    Ok(())
}
