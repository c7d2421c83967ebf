//! Security events in the audit log: malformed handshakes and wrong license
//! keys are counted per client address and written once per interval (and at
//! shutdown), not once per event.

mod http_support;

use http_support::{Harness, PRODUCT};
use skyline_client::{Client, ClientError, Incoming, RawSocket, RpcError};
use skyline_protocol::methods::StartSessionRequest;
use skyline_server::domain::{AuditAction, AuditFilter};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_handshakes_and_wrong_keys_are_counted_per_address() {
    let server = Harness::start().await;
    let url = format!("ws://{}/ws", server.addr);
    for _ in 0..3 {
        let mut socket = RawSocket::connect(&url).await.unwrap();
        socket.send_binary(vec![0x93, 1, 2, 3]).await.unwrap();
        assert!(matches!(socket.recv().await.unwrap(), Incoming::Binary(_)));
    }
    for _ in 0..2 {
        let mut client = Client::connect(&url, server.pinned).await.unwrap();
        let refused = client
            .start_session(StartSessionRequest {
                product_id: PRODUCT.into(),
                product_version: "7.0.0".into(),
                language: None,
                last_login_reported_by_client: None,
                device_serial_number: "SN".into(),
                cs_product_uuid: "U".into(),
                license_key: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8".into(),
            })
            .await;
        assert!(matches!(
            refused,
            Err(ClientError::Rpc(RpcError::InvalidLicenseKey { .. }))
        ));
    }
    let dir = server.stop().await;

    let url = format!("sqlite://{}", dir.path().join("skyline.sqlite").display());
    let store = skyline_server::store::open(&url, None).await.unwrap();
    let audit = store.list_audit(AuditFilter::default()).await.unwrap();
    let entry = |action: AuditAction| {
        let found: Vec<_> = audit.iter().filter(|r| r.action == action).collect();
        assert_eq!(found.len(), 1, "{action}: {found:?}");
        assert_eq!(found[0].actor, "127.0.0.1");
        found[0].detail.clone()
    };
    assert!(entry(AuditAction::BadHandshakes).starts_with("3 since "));
    assert!(entry(AuditAction::InvalidLicenseKeys).starts_with("2 since "));
    store.close().await;
}
