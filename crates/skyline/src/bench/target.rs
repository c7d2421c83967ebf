//! The server under load: its URL (loopback only), the pinned identity key,
//! and the client configuration of every connection, spread over the source
//! addresses of `--source-addrs`.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use skyline_client::{Client, ClientConfig, IdentityPublicKey, RawSocket};

use super::stats::Failure;
use crate::CliError;

/// The first source address of `--source-addrs`.
const FIRST_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Where and how every connection of a run connects.
#[derive(Debug)]
pub struct Target {
    /// The URL with the scenario's path (`/ws`, `/echo`, `/echo-sealed`).
    pub url: String,
    /// The server's identity key, for the scenarios that do the handshake.
    pub pinned: Option<IdentityPublicKey>,
    config: ClientConfig,
    sources: Vec<IpAddr>,
    next_source: AtomicUsize,
}

impl Target {
    /// Checks that `url` is a `ws://` or `wss://` URL of a loopback server and
    /// points it at `path`. `source_addrs` addresses from 127.0.0.2 up are
    /// used in turn as the connections' source addresses.
    pub async fn new(
        url: &str,
        path: &str,
        pinned: Option<IdentityPublicKey>,
        source_addrs: Option<u32>,
        timeout: Duration,
    ) -> Result<Target, CliError> {
        let mut parsed =
            url::Url::parse(url).map_err(|e| CliError::failed(format!("--url {url}: {e}")))?;
        if !matches!(parsed.scheme(), "ws" | "wss") {
            return Err(CliError::failed(format!(
                "--url {url}: expected ws:// or wss://"
            )));
        }
        let host = parsed
            .host_str()
            .ok_or_else(|| CliError::failed(format!("--url {url}: no host")))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port_or_known_default().unwrap_or(80);
        let addresses: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| CliError::failed(format!("--url {url}: cannot resolve {host}: {e}")))?
            .collect();
        if addresses.is_empty() || !addresses.iter().all(|a| a.ip().is_loopback()) {
            return Err(CliError::failed(format!(
                "--url {url}: the load generator drives loopback servers only \
                 (127.0.0.0/8 or ::1), on the machine it runs on"
            )));
        }
        parsed.set_path(path);
        let sources = match source_addrs {
            None | Some(0) => Vec::new(),
            Some(n) => {
                if !addresses.iter().any(|a| a.is_ipv4()) {
                    return Err(CliError::failed(
                        "--source-addrs spreads over 127.0.0.2 and up: the server must listen on IPv4",
                    ));
                }
                let first = u32::from(FIRST_SOURCE);
                let last = first
                    .checked_add(n - 1)
                    .filter(|last| Ipv4Addr::from(*last).is_loopback())
                    .ok_or_else(|| {
                        CliError::failed("--source-addrs: too many addresses for 127.0.0.0/8")
                    })?;
                (first..=last)
                    .map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                    .collect()
            }
        };
        Ok(Target {
            url: parsed.to_string(),
            pinned,
            config: ClientConfig::default()
                .with_connect_timeout(timeout)
                .with_request_timeout(timeout),
            sources,
            next_source: AtomicUsize::new(0),
        })
    }

    /// The configuration of the next connection: the next source address in turn.
    fn next_config(&self) -> ClientConfig {
        if self.sources.is_empty() {
            return self.config.clone();
        }
        let i = self.next_source.fetch_add(1, Ordering::Relaxed) % self.sources.len();
        self.config.clone().with_local_addr(self.sources[i])
    }

    /// The pinned key; the scenarios that need it are only started with one.
    pub fn pinned(&self) -> Result<IdentityPublicKey, Failure> {
        self.pinned
            .ok_or_else(|| Failure::new("no identity key", "no identity public key to pin"))
    }

    /// Connects and completes the handshake.
    pub async fn client(&self) -> Result<Client, Failure> {
        Ok(Client::connect_with(&self.url, self.pinned()?, self.next_config()).await?)
    }

    /// Opens the WebSocket only.
    pub async fn socket(&self) -> Result<RawSocket, Failure> {
        Ok(RawSocket::connect_with(&self.url, &self.next_config()).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(1);

    #[tokio::test]
    async fn only_loopback_servers_are_driven() {
        let target = Target::new("ws://127.0.0.1:7700/ws", "/echo", None, None, T)
            .await
            .unwrap();
        assert_eq!(target.url, "ws://127.0.0.1:7700/echo");
        assert!(Target::new("ws://[::1]:7700/ws", "/ws", None, None, T)
            .await
            .is_ok());
        for url in [
            "ws://192.0.2.1:7700/ws",
            "http://127.0.0.1:7700/ws",
            "not a url",
        ] {
            assert!(
                Target::new(url, "/ws", None, None, T).await.is_err(),
                "{url}"
            );
        }
    }

    #[tokio::test]
    async fn source_addresses_start_at_127_0_0_2_and_take_turns() {
        let target = Target::new("ws://127.0.0.1:1/ws", "/ws", None, Some(3), T)
            .await
            .unwrap();
        let picked: Vec<_> = (0..4)
            .map(|_| target.next_config().local_addr().unwrap().to_string())
            .collect();
        assert_eq!(picked, ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"]);
        assert!(
            Target::new("ws://127.0.0.1:1/ws", "/ws", None, Some(1 << 24), T)
                .await
                .is_err()
        );
    }
}
