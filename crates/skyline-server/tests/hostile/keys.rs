//! Hole 5: the failed-key limit is taken atomically and never locks out a
//! device bound to the key.

use super::*;

// --- Hole 5: the failed-key limit -------------------------------------------

#[tokio::test]
async fn concurrent_wrong_keys_cannot_pass_the_limit_together() {
    let config = ServerConfig {
        failed_keys_per_minute: 3,
        ..test_config()
    };
    let server = Arc::new(TestServer::with_catalog(config).await);
    let t = server.clock_now();
    let attempts: Vec<_> = (0..12)
        .map(|n| {
            let server = server.clone();
            tokio::spawn(async move {
                let wrong = license_key::generate().unwrap();
                server
                    .refused_at(t, start_request(&wrong, &format!("SN-{n}")))
                    .await
            })
        })
        .collect();
    let mut invalid = 0;
    let mut limited = 0;
    for attempt in attempts {
        match guarded("a wrong key", attempt).await.expect("task") {
            RpcError::InvalidLicenseKey { .. } => invalid += 1,
            RpcError::RateLimited { .. } => limited += 1,
            other => panic!("unexpected: {other:?}"),
        }
    }
    assert_eq!((invalid, limited), (3, 9));
}

#[tokio::test]
async fn a_bound_device_is_never_locked_out_by_its_neighbours_wrong_keys() {
    let config = ServerConfig {
        failed_keys_per_minute: 2,
        ..test_config()
    };
    let server = TestServer::with_catalog(config).await;
    let keys = server.create_keys(TEAM, 2).await;
    let t = server.clock_now();
    // A device bound before the neighbour starts guessing.
    let (_, first) = server.session_at(t, start_request(&keys[0], "SN-OK")).await;
    for _ in 0..4 {
        let wrong = license_key::generate().unwrap();
        server.refused_at(t, start_request(&wrong, "SN-X")).await;
    }
    // The address is over its limit: the bound device still starts...
    let again = common::start_request_after(&keys[0], "SN-OK", first.last_login_to_persist);
    server.session_at(t + 60, again).await;
    // ...a new device on a valid key is refused for now, and binds nothing.
    let error = server
        .refused_at(t, start_request(&keys[1], "SN-NEW"))
        .await;
    assert!(matches!(error, RpcError::RateLimited { .. }), "{error:?}");
    assert!(server.license(&keys[1]).await.devices.is_empty());
    assert!(server.refusals.get(Limit::FailedKeys) >= 3);
}
