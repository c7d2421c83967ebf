//! The hostile-client suite (issue 10): one test (or a few) per hole, each
//! driving the real server over loopback as an attacker would, and asserting
//! the closed behaviour. Limits are made small through the configuration;
//! deadlines are short, and the only waits are generous hang guards (no
//! test asserts how fast anything happens).
//!
//! | hole | tests |
//! | --- | --- |
//! | 1 telemetry fills the disk | `telemetry_*` |
//! | 2 slowloris on both listeners | `slow_headers_*`, `idle_keep_alive_*`, `oversized_heads_*`, `http_connections_*` |
//! | 3 slots taken without a license | `no_start_session_*`, `connections_per_address_*` |
//! | 4 slow readers | `a_client_that_never_reads_is_dropped` |
//! | 5 failed-key limit | `concurrent_wrong_keys_*`, `a_bound_device_is_never_locked_out_*` |
//! | 6 limits keyed by exact address | `handshake_limits_count_an_ipv6_64_as_one_address`, `the_handshake_budget_*` |
//! | 7 log and terminal injection | `control_characters_in_device_fields_*`, `peer_strings_in_logs_*` |
//! | 8 file modes | `crates/skyline/tests/hostile.rs`, and `the_database_file_is_private` |
//! | 9 secrets in `Debug` | `debug_of_requests_and_results_hides_secrets` |
//! | 10 frames per connection | `a_session_key_carries_a_bounded_number_of_frames` |

#[path = "../common/mod.rs"]
mod common;

mod connections;
mod http;
mod keys;
mod telemetry;
mod text;

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use common::{identity, next_close, start_request, test_config, TestServer, MONTHLY, TEAM};
use skyline_client::{Client, ClientError, RpcError};
use skyline_protocol::methods::{TelemetryEvent, GET_FEATURE_TOGGLES, SEND_TELEMETRY_EVENT};
use skyline_protocol::{license_key, msgpack, CloseCode, Request, Status, Value};
use skyline_server::admin::AdminConfig;
use skyline_server::config::TelemetryLimits;
use skyline_server::limits::{HttpLimits, Limit, Refusals};
use skyline_server::{ServerConfig, Services};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Long enough for any healthy step on a loaded machine; only a hang
/// reaches it.
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A short deadline for the server to enforce.
const SHORT: Duration = Duration::from_millis(300);

async fn guarded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG_GUARD, future)
        .await
        .unwrap_or_else(|_| panic!("hung: {what}"))
}

/// Waits (under the hang guard) until `limit` has refused `at_least` times.
async fn refused(refusals: &Refusals, limit: Limit, at_least: u64) {
    guarded(limit.name(), async {
        while refusals.get(limit) < at_least {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Reads until the peer closes; the bytes read before.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
        }
    }
}

fn rpc_status(error: &ClientError) -> Option<Status> {
    match error {
        ClientError::Rpc(e) => Some(e.status()),
        _ => None,
    }
}

fn event(name: &str, data: Option<Value>) -> TelemetryEvent {
    TelemetryEvent {
        event: name.into(),
        data,
        event_id: None,
    }
}
