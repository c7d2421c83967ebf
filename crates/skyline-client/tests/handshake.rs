//! Connecting: the signed handshake, refusals, TLS, and the raw socket.

mod support;

use std::sync::Arc;
use std::time::Duration;

use skyline_client::{Client, ClientConfig, ClientError, Incoming, RawSocket};
use skyline_protocol::{bad_handshake_reply, CloseCode, IdentityKeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use support::{config, identity, serve, start_request, Peer};

#[tokio::test]
async fn handshake_and_start_session_succeed_against_the_pinned_key() {
    let (url, server) = serve(|mut peer| async move {
        peer.handshake(&identity()).await;
        let request = peer.accept_start_session().await;
        assert_eq!((request.q, request.s.as_deref()), (0, None));
        peer.drain().await;
    })
    .await;
    let mut client = config().connect(&url, identity().public()).await.unwrap();
    let started = client.start_session(start_request()).await.unwrap();
    assert_eq!(started.result, support::start_result());
    assert!(client.has_session());
    client.close().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn a_server_signing_with_another_key_is_a_mismatch_and_gets_nothing_more() {
    let (url, server) = serve(|mut peer| async move {
        let impostor = IdentityKeyPair::generate().unwrap();
        peer.handshake(&impostor).await;
        // The client must not send a request, or anything else, after our hello.
        match peer.recv().await {
            None => {}
            Some(other) => panic!("the client sent {other:?} after a forged hello"),
        }
    })
    .await;
    let err = config()
        .connect(&url, identity().public())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ServerIdentityMismatch),
        "{err:?}"
    );
    server.await.unwrap();
}

#[tokio::test]
async fn bad_handshake_reply_is_refused_with_the_servers_reason() {
    let (url, server) = serve(|mut peer| async move {
        let _hello = peer.recv_binary().await;
        peer.send_binary(bad_handshake_reply(
            "field `nonce`: expected 32 bytes, got 31",
        ))
        .await;
        peer.close(1002).await;
    })
    .await;
    let err = config()
        .connect(&url, identity().public())
        .await
        .unwrap_err();
    match err {
        ClientError::HandshakeRefused { reason } => {
            assert_eq!(reason, "field `nonce`: expected 32 bytes, got 31")
        }
        other => panic!("{other:?}"),
    }
    server.await.unwrap();
}

#[tokio::test]
async fn http_429_at_the_upgrade_is_rate_limited() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = tcp.read(&mut buf).await.unwrap();
            assert!(n > 0);
            request.extend_from_slice(&buf[..n]);
        }
        tcp.write_all(
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
        )
        .await
        .unwrap();
    });
    let err = config()
        .connect(&url, identity().public())
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::RateLimited), "{err:?}");
    server.await.unwrap();
}

#[tokio::test]
async fn a_silent_server_hits_the_connect_timeout() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(tcp);
    });
    let limit = Duration::from_millis(300);
    let err = config()
        .with_connect_timeout(limit)
        .connect(&url, identity().public())
        .await
        .unwrap_err();
    assert!(
        matches!(err, ClientError::ConnectTimeout(d) if d == limit),
        "{err:?}"
    );
    server.abort();
}

#[tokio::test]
async fn bad_urls_are_refused_before_connecting() {
    for url in ["http://127.0.0.1:1/ws", "not a url"] {
        let err = Client::connect(url, identity().public()).await.unwrap_err();
        assert!(matches!(err, ClientError::InvalidUrl(_)), "{url}: {err:?}");
    }
    let err = ClientConfig::default()
        .with_root_certificate("no pem here")
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidCertificate(_)), "{err:?}");
}

#[tokio::test]
async fn raw_socket_sends_anything_and_sees_the_close_code() {
    let (url, server) = serve(|mut peer| async move {
        match peer.recv().await {
            Some(Message::Text(text)) => assert_eq!(text.as_str(), "hello?"),
            other => panic!("{other:?}"),
        }
        peer.close(1003).await;
        peer.drain().await;
    })
    .await;
    let mut raw = RawSocket::connect_with(&url, &config()).await.unwrap();
    raw.send_text("hello?").await.unwrap();
    assert_eq!(
        raw.recv().await.unwrap(),
        Incoming::Close {
            code: Some(CloseCode::UNSUPPORTED_DATA),
            reason: String::new()
        }
    );
    assert_eq!(raw.recv().await.unwrap(), Incoming::Eof);
    server.await.unwrap();
}

#[tokio::test]
async fn raw_socket_can_send_a_custom_hello_or_finish_the_normal_handshake() {
    let (url, server) = serve(|mut peer| async move {
        assert_eq!(peer.recv_binary().await, vec![0xc0]);
        peer.handshake(&identity()).await;
        peer.accept_start_session().await;
        peer.drain().await;
    })
    .await;
    let mut raw = RawSocket::connect_with(&url, &config()).await.unwrap();
    raw.send_binary(vec![0xc0]).await.unwrap();
    let mut client = raw.handshake(identity().public()).await.unwrap();
    client.start_session(start_request()).await.unwrap();
    drop(client);
    server.await.unwrap();
}

const TEST_CA: &str = include_str!("fixtures/test-ca.pem");
const TEST_SERVER_CERT: &str = include_str!("fixtures/test-server.pem");
const TEST_SERVER_KEY: &str = include_str!("fixtures/test-server.key");

/// A TLS acceptor with the test server certificate.
fn tls_acceptor() -> tokio_rustls::TlsAcceptor {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(TEST_SERVER_CERT.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(TEST_SERVER_KEY.as_bytes()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test]
async fn wss_with_an_added_root_certificate() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tls_acceptor();
    let server = tokio::spawn(async move {
        // First connection: a client without the test CA gives up during TLS.
        let (tcp, _) = listener.accept().await.unwrap();
        assert!(acceptor.accept(tcp).await.is_err());
        // Second: a client that trusts it.
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let ws = tokio_tungstenite::accept_async(tls).await.unwrap();
        let mut peer = Peer::new(ws);
        peer.handshake(&identity()).await;
        peer.accept_start_session().await;
        peer.drain().await;
    });
    let url = format!("wss://localhost:{port}/ws");

    let untrusted = config().connect(&url, identity().public()).await;
    assert!(untrusted.is_err(), "{untrusted:?}");

    let trusted = config().with_root_certificate(TEST_CA).unwrap();
    let mut client = trusted.connect(&url, identity().public()).await.unwrap();
    client.start_session(start_request()).await.unwrap();
    client.close().await.unwrap();
    server.await.unwrap();
}
