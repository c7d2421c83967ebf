//! `ClientConfig::with_local_addr`: the client's end of the connection is
//! bound to the chosen source address before it connects.

use std::net::{IpAddr, Ipv4Addr};

use skyline_client::{ClientConfig, ClientError, RawSocket};
use tokio::net::TcpListener;

/// Accepts one WebSocket on 127.0.0.1 and reports the peer's address.
async fn peer_address_of_one_connection(config: ClientConfig) -> IpAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let accept = tokio::spawn(async move {
        let (tcp, peer) = listener.accept().await.unwrap();
        let _ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        peer.ip()
    });
    let socket = RawSocket::connect_with(&url, &config).await.unwrap();
    let peer = accept.await.unwrap();
    drop(socket);
    peer
}

#[tokio::test]
async fn the_connection_comes_from_the_chosen_source_address() {
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let config = ClientConfig::default().with_local_addr(source);
    assert_eq!(config.local_addr(), Some(source));
    assert_eq!(peer_address_of_one_connection(config).await, source);
}

#[tokio::test]
async fn without_a_local_address_the_system_picks_it() {
    let config = ClientConfig::default();
    assert_eq!(config.local_addr(), None);
    assert_eq!(
        peer_address_of_one_connection(config).await,
        IpAddr::V4(Ipv4Addr::LOCALHOST)
    );
}

#[tokio::test]
async fn a_local_address_of_another_family_is_refused() {
    let config = ClientConfig::default().with_local_addr("::1".parse().unwrap());
    let err = RawSocket::connect_with("ws://127.0.0.1:9/ws", &config)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::InvalidUrl(_)), "{err:?}");
}
