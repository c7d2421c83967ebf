//! Requests after the handshake: the typed methods, `q` bookkeeping, status
//! errors, pipelining, limits, and the raw hooks.

mod support;

use std::time::Duration;

use skyline_client::{
    ClientError, FeatureToggles, Incoming, IntegrityCode, RpcError, Status, TelemetryEvent,
    ToggleValue, Value,
};
use skyline_protocol::{CloseCode, Response};

use support::{config, handshake_and_start, identity, map, serve, started_client, TOKEN};

const NOW: i64 = 1_735_000_000;

#[tokio::test]
async fn start_session_toggles_telemetry_and_raw_call_round_trip() {
    let toggles = FeatureToggles(vec![
        (
            "engine.limits.inviteToChannel.dailyLimit".into(),
            ToggleValue::Int(500),
        ),
        ("ui.beta".into(), ToggleValue::Bool(true)),
    ]);
    let served = toggles.clone();
    let (url, server) = serve(|mut peer| async move {
        peer.handshake(&identity()).await;

        let start = peer.accept_start_session().await;
        assert_eq!((start.q, start.t, start.s.as_deref()), (0, NOW, None));
        assert_eq!(start.d, support::start_request().to_value());

        let get = peer.recv_request().await;
        assert_eq!(
            (get.q, get.t, get.r.as_str()),
            (1, NOW, "get-feature-toggles")
        );
        assert_eq!(get.s.as_deref(), Some(TOKEN));
        peer.respond(Response::ok(1, served.to_value())).await;

        let event = peer.recv_request().await;
        assert_eq!((event.q, event.r.as_str()), (2, "send-telemetry-event"));
        assert_eq!(event.s.as_deref(), Some(TOKEN));
        assert_eq!(
            event.d,
            map(&[
                ("event", Value::from("app.navigation")),
                ("data", map(&[("to", Value::from("/account-manager"))])),
            ])
        );
        peer.respond(Response::ok(2, Value::Nil)).await;

        let other = peer.recv_request().await;
        assert_eq!((other.q, other.r.as_str()), (3, "get-news"));
        assert_eq!(other.s.as_deref(), Some(TOKEN));
        peer.respond(Response::ok(3, map(&[("echo", other.d)])))
            .await;
        peer.drain().await;
    })
    .await;

    let mut client = config().connect(&url, identity().public()).await.unwrap();
    let started = client
        .start_session(support::start_request())
        .await
        .unwrap();
    assert_eq!(started.last_login_to_persist, NOW);
    assert_eq!(started.result.session_token, TOKEN);

    assert_eq!(client.get_feature_toggles().await.unwrap(), toggles);
    client
        .send_telemetry_event(TelemetryEvent {
            event: "app.navigation".into(),
            data: Some(map(&[("to", Value::from("/account-manager"))])),
            event_id: None,
        })
        .await
        .unwrap();
    let echoed = client
        .call("get-news", map(&[("limit", Value::from(3))]))
        .await
        .unwrap();
    assert_eq!(echoed, map(&[("echo", map(&[("limit", Value::from(3))]))]));
    client.close().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_response_with_the_wrong_q_is_a_protocol_error_and_poisons_the_client() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        let request = peer.recv_request().await;
        assert_eq!(request.q, 1);
        peer.respond(Response::ok(2, Value::Nil)).await;
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    let err = client.get_feature_toggles().await.unwrap_err();
    assert!(matches!(err, ClientError::Protocol(_)), "{err:?}");
    assert!(client.unusable_reason().is_some());
    let again = client.call("get-news", Value::Nil).await.unwrap_err();
    assert!(matches!(again, ClientError::Unusable(_)), "{again:?}");
    drop(client);
    server.await.unwrap();
}

/// Answers the first request after `start-session` with `status` and `message`.
async fn status_error(status: Status, message: &str) -> (ClientError, skyline_client::Client) {
    let message = message.to_owned();
    let (url, server) = serve(move |mut peer| async move {
        handshake_and_start(&mut peer).await;
        let request = peer.recv_request().await;
        peer.respond(Response::error(Some(request.q), status, message))
            .await;
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    let err = client.call("get-news", Value::Nil).await.unwrap_err();
    server.abort();
    (err, client)
}

#[tokio::test]
async fn every_status_maps_to_its_variant_with_the_message() {
    type IsVariant = fn(&RpcError) -> bool;
    let cases: Vec<(Status, IsVariant)> = vec![
        (Status::BadRequest, |e| {
            matches!(e, RpcError::BadRequest { .. })
        }),
        (Status::SessionRequired, |e| {
            matches!(e, RpcError::SessionRequired { .. })
        }),
        (Status::InvalidSession, |e| {
            matches!(e, RpcError::InvalidSession { .. })
        }),
        (Status::UnknownMethod, |e| {
            matches!(e, RpcError::UnknownMethod { .. })
        }),
        (Status::UnknownProduct, |e| {
            matches!(e, RpcError::UnknownProduct { .. })
        }),
        (Status::OutdatedVersion, |e| {
            matches!(e, RpcError::OutdatedVersion { .. })
        }),
        (Status::InvalidLicenseKey, |e| {
            matches!(e, RpcError::InvalidLicenseKey { .. })
        }),
        (Status::LicenseRevoked, |e| {
            matches!(e, RpcError::LicenseRevoked { .. })
        }),
        (Status::LicenseExpired, |e| {
            matches!(e, RpcError::LicenseExpired { .. })
        }),
        (Status::KeyBoundToAnotherDevice, |e| {
            matches!(e, RpcError::KeyBoundToAnotherDevice { .. })
        }),
        (Status::IntegrityBreach, |e| {
            matches!(e, RpcError::IntegrityBreach { .. })
        }),
        (Status::RateLimited, |e| {
            matches!(e, RpcError::RateLimited { .. })
        }),
        (Status::InternalError, |e| {
            matches!(e, RpcError::InternalError { .. })
        }),
    ];
    for (status, is_variant) in cases {
        let message = format!("message for {status}");
        let (err, client) = status_error(status, &message).await;
        let rpc = err.rpc().unwrap_or_else(|| panic!("{status}: {err:?}"));
        assert!(is_variant(rpc), "{status}: {rpc:?}");
        assert_eq!(rpc.status(), status);
        assert_eq!(rpc.message(), message);
        // Statuses after which the server closes leave the client unusable.
        let closes = matches!(
            status,
            Status::SessionRequired | Status::InvalidSession | Status::IntegrityBreach
        );
        assert_eq!(client.unusable_reason().is_some(), closes, "{status}");
    }
}

#[tokio::test]
async fn integrity_breach_in_russian_names_code_ll() {
    let message = "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в техническую поддержку с кодом: LL";
    let (url, server) = serve(move |mut peer| async move {
        peer.handshake(&identity()).await;
        let request = peer.recv_request().await;
        peer.respond(Response::error(
            Some(request.q),
            Status::IntegrityBreach,
            message,
        ))
        .await;
        peer.close(1000).await;
        peer.drain().await;
    })
    .await;
    let mut client = config().connect(&url, identity().public()).await.unwrap();
    let err = client
        .start_session(support::start_request())
        .await
        .unwrap_err();
    match err {
        ClientError::Rpc(RpcError::IntegrityBreach { code, message: m }) => {
            assert_eq!(code, Some(IntegrityCode::LastLogin));
            assert_eq!(m, message);
        }
        other => panic!("{other:?}"),
    }
    // A failed start-session ends the connection.
    assert!(!client.has_session());
    assert!(matches!(
        client.call("get-news", Value::Nil).await,
        Err(ClientError::Unusable(_))
    ));
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn a_failed_start_session_maps_its_status_and_keeps_no_token() {
    let (url, server) = serve(|mut peer| async move {
        peer.handshake(&identity()).await;
        let request = peer.recv_request().await;
        peer.respond(Response::error(
            Some(request.q),
            Status::KeyBoundToAnotherDevice,
            "The key was bound to another device on October 25, 2024.",
        ))
        .await;
        peer.close(1000).await;
        peer.drain().await;
    })
    .await;
    let mut client = config().connect(&url, identity().public()).await.unwrap();
    let err = client
        .start_session(support::start_request())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ClientError::Rpc(RpcError::KeyBoundToAnotherDevice { message }) if message.contains("October 25, 2024")),
        "{err:?}"
    );
    // The close that followed is still visible through the raw hooks.
    assert_eq!(
        client.raw().recv().await.unwrap(),
        Incoming::Close {
            code: Some(CloseCode::NORMAL),
            reason: String::new()
        }
    );
    server.await.unwrap();
}

#[tokio::test]
async fn ten_pipelined_requests_get_ten_in_order_responses() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        // Read all ten before answering any: a lock-step client would hang here.
        let mut requests = Vec::new();
        for expected_q in 1..=10u64 {
            let request = peer.recv_request().await;
            assert_eq!(request.q, expected_q);
            assert_eq!(request.s.as_deref(), Some(TOKEN));
            requests.push(request);
        }
        for request in requests {
            let response = if request.q == 4 {
                Response::error(Some(4), Status::UnknownMethod, "no such method")
            } else {
                Response::ok(request.q, map(&[("n", request.d)]))
            };
            peer.respond(response).await;
        }
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    let calls = (1..=10i64)
        .map(|n| ("echo".to_owned(), Value::from(n)))
        .collect::<Vec<_>>();
    let results = client.pipeline(calls).await.unwrap();
    assert_eq!(results.len(), 10);
    for (i, result) in results.into_iter().enumerate() {
        let n = i as i64 + 1;
        if n == 4 {
            assert!(
                matches!(result, Err(RpcError::UnknownMethod { .. })),
                "{result:?}"
            );
        } else {
            assert_eq!(result.unwrap(), map(&[("n", Value::from(n))]));
        }
    }
    // The connection is still in step.
    assert!(client.unusable_reason().is_none());
    assert_eq!(client.raw().next_q(), 11);
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn send_request_and_read_response_pipeline_by_hand() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        let a = peer.recv_request().await;
        let b = peer.recv_request().await;
        peer.respond(Response::ok(a.q, Value::from("a"))).await;
        peer.respond(Response::ok(b.q, Value::from("b"))).await;
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    assert_eq!(client.send_request("m", Value::Nil).await.unwrap(), 1);
    assert_eq!(client.send_request("m", Value::Nil).await.unwrap(), 2);
    // Lock-step calls wait until the outstanding responses are read.
    assert!(matches!(
        client.call("m", Value::Nil).await,
        Err(ClientError::InvalidState(_))
    ));
    assert_eq!(client.read_response().await.unwrap(), Value::from("a"));
    assert_eq!(client.read_response().await.unwrap(), Value::from("b"));
    assert!(matches!(
        client.read_response().await,
        Err(ClientError::InvalidState(_))
    ));
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn an_oversized_server_message_is_refused() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        let request = peer.recv_request().await;
        let big = Value::from("x".repeat(70 * 1024));
        peer.respond(Response::ok(request.q, big)).await;
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    let err = client.call("get-news", Value::Nil).await.unwrap_err();
    match err {
        ClientError::MessageTooBig { size, limit } => {
            assert_eq!(limit, 64 * 1024);
            assert!(size > limit, "{size}");
        }
        other => panic!("{other:?}"),
    }
    assert!(client.unusable_reason().is_some());
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn a_missing_response_times_out_and_poisons_the_client() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        let _ignored = peer.recv_request().await;
        peer.drain().await;
    })
    .await;
    let limit = Duration::from_millis(300);
    let mut client = config()
        .with_request_timeout(limit)
        .connect(&url, identity().public())
        .await
        .unwrap();
    client
        .start_session(support::start_request())
        .await
        .unwrap();
    let err = client.get_feature_toggles().await.unwrap_err();
    assert!(
        matches!(err, ClientError::RequestTimeout(d) if d == limit),
        "{err:?}"
    );
    assert!(matches!(
        client.get_feature_toggles().await,
        Err(ClientError::Unusable(_))
    ));
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn a_server_close_is_reported_with_its_code() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        let _request = peer.recv_request().await;
        peer.close(1008).await;
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    let err = client.call("get-news", Value::Nil).await.unwrap_err();
    assert_eq!(
        err.close_code(),
        Some(CloseCode::POLICY_VIOLATION),
        "{err:?}"
    );
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn an_undecryptable_frame_is_a_frame_error_and_the_client_closes_1002() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        let _request = peer.recv_request().await;
        peer.send_binary(vec![0u8; 40]).await;
        match peer.recv().await {
            Some(tokio_tungstenite::tungstenite::Message::Close(Some(frame))) => {
                assert_eq!(u16::from(frame.code), 1002)
            }
            other => panic!("{other:?}"),
        }
    })
    .await;
    let mut client = started_client(&url).await;
    let err = client.call("get-news", Value::Nil).await.unwrap_err();
    assert!(matches!(err, ClientError::Frame(_)), "{err:?}");
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn methods_before_start_session_are_refused_locally() {
    let (url, server) = serve(|mut peer| async move {
        peer.handshake(&identity()).await;
        // Nothing arrives: the client refused locally and then went away.
        assert!(peer.recv().await.is_none());
    })
    .await;
    let mut client = config().connect(&url, identity().public()).await.unwrap();
    assert!(matches!(
        client.get_feature_toggles().await,
        Err(ClientError::InvalidState(_))
    ));
    drop(client);
    server.await.unwrap();
}

#[tokio::test]
async fn raw_hooks_send_chosen_fields_and_arbitrary_frames() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        // A request with a chosen q and token.
        let request = peer.recv_request().await;
        assert_eq!((request.q, request.s.as_deref()), (7, Some("forged")));
        // Arbitrary sealed bytes, and an unsealed frame, arrive as sent.
        assert_eq!(peer.recv_plaintext().await, b"not msgpack");
        assert_eq!(peer.recv_binary().await, vec![1, 2, 3]);
        match peer.recv().await {
            Some(tokio_tungstenite::tungstenite::Message::Text(t)) => assert_eq!(t.as_str(), "hi"),
            other => panic!("{other:?}"),
        }
        peer.respond(Response::error(
            Some(7),
            Status::IntegrityBreach,
            "Integrity breach, code: SQ",
        ))
        .await;
        peer.close(1008).await;
        peer.drain().await;
    })
    .await;
    let mut client = started_client(&url).await;
    let mut raw = client.raw();
    assert_eq!(raw.session_token(), Some(TOKEN));
    let mut request = raw.request("get-feature-toggles", Value::Nil);
    assert_eq!((request.q, request.t), (1, NOW));
    request.q = 7;
    request.s = Some("forged".into());
    raw.send_request(&request).await.unwrap();
    raw.send_sealed(b"not msgpack").await.unwrap();
    raw.send_binary(vec![1, 2, 3]).await.unwrap();
    raw.send_text("hi").await.unwrap();
    let response = raw.recv_response().await.unwrap();
    assert_eq!(
        (response.q, response.status),
        (Some(7), Status::IntegrityBreach)
    );
    assert_eq!(
        RpcError::from_status(response.status, response.e)
            .unwrap()
            .to_string(),
        "INTEGRITY_BREACH: Integrity breach, code: SQ"
    );
    let err = raw.recv_response().await.unwrap_err();
    assert_eq!(err.close_code(), Some(CloseCode::POLICY_VIOLATION));
    server.await.unwrap();
}

#[tokio::test]
async fn debug_output_shows_neither_token_nor_key() {
    let (url, server) = serve(|mut peer| async move {
        handshake_and_start(&mut peer).await;
        peer.drain().await;
    })
    .await;
    let client = started_client(&url).await;
    let shown = format!("{client:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(shown.contains("redacted"), "{shown}");
    drop(client);
    server.await.unwrap();
}
