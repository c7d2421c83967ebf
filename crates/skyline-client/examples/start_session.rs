//! Connects to a Skyline server, starts a session and prints the license and
//! the feature toggles.
//!
//! ```sh
//! cargo run -p skyline-client --example start_session -- \
//!     ws://127.0.0.1:8080/ws <identity public key, 64 hex> <license key> [last login]
//! ```

use std::process::ExitCode;

use skyline_client::{Client, ClientError, IdentityPublicKey, StartSessionRequest};

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, pinned, license_key, rest @ ..] = args.as_slice() else {
        eprintln!(
            "usage: start_session <url> <identity public key hex> <license key> [last login]"
        );
        return ExitCode::from(2);
    };
    match run(url, pinned, license_key, rest.first()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    url: &str,
    pinned: &str,
    license_key: &str,
    last_login: Option<&String>,
) -> Result<(), Box<dyn std::error::Error>> {
    let pinned = IdentityPublicKey::from_hex(pinned)?;
    let last_login = last_login.map(|t| t.parse::<i64>()).transpose()?;
    let mut client = Client::connect(url, pinned).await?;
    let started = client
        .start_session(StartSessionRequest {
            product_id: "telepower".into(),
            product_version: "7.0.3".into(),
            language: Some("en".into()),
            last_login_reported_by_client: last_login,
            device_serial_number: "example-device".into(),
            cs_product_uuid: "example-uuid".into(),
            license_key: license_key.into(),
        })
        .await;
    let started = match started {
        Ok(started) => started,
        Err(ClientError::Rpc(e)) => {
            // The server's message is localized and meant for the user.
            eprintln!("{}: {}", e.status(), e.message());
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    println!("{:#?}", started.result);
    println!(
        "persist {} and pass it as [last login] next time",
        started.last_login_to_persist
    );
    for (name, value) in client.get_feature_toggles().await?.0 {
        println!("{name} = {value}");
    }
    client.close().await?;
    Ok(())
}
