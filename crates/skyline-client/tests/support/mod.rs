//! A minimal fake Skyline peer for the client's own tests: it accepts one
//! WebSocket, answers the hello with `skyline_protocol::ServerHandshake`, and
//! then does exactly what each test's script says. It is not a server: the
//! real one, with its rules, is tested end to end in the server crate.

#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use skyline_client::{Client, ClientConfig, StartSessionRequest};
use skyline_protocol::methods::StartSessionResult;
use skyline_protocol::{IdentityKeyPair, Request, Response, ServerHandshake, Session, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// The session token the fake peer issues.
pub const TOKEN: &str = "71ee0979-ea57b170";

/// The fixed identity of the fake server (seed 7,7,7…).
pub fn identity() -> IdentityKeyPair {
    IdentityKeyPair::from_seed(&[7u8; 32]).unwrap()
}

/// A fixed `start-session` payload.
pub fn start_request() -> StartSessionRequest {
    StartSessionRequest {
        product_id: "telepower".into(),
        product_version: "7.0.3".into(),
        language: Some("ru".into()),
        last_login_reported_by_client: Some(1_700_000_000),
        device_serial_number: "SN-1".into(),
        cs_product_uuid: "UUID-1".into(),
        license_key: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8".into(),
    }
}

/// A fixed OK `start-session` result carrying [`TOKEN`].
pub fn start_result() -> StartSessionResult {
    StartSessionResult {
        is_activated_now: true,
        activation_date: "2024-12-25".into(),
        license_plan: "telepower.licensePlan.release.monthly".into(),
        expiry_date: Some("2025-01-25".into()),
        session_token: TOKEN.into(),
    }
}

/// One accepted WebSocket, seen from the server's side.
pub struct Peer<S> {
    ws: WebSocketStream<S>,
    session: Option<Session>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    pub fn new(ws: WebSocketStream<S>) -> Self {
        Peer { ws, session: None }
    }

    /// The next data or close message; `None` when the connection ended
    /// (cleanly or not) without one.
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            match self.ws.next().await {
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                Some(Ok(message)) => return Some(message),
                Some(Err(_)) | None => return None,
            }
        }
    }

    pub async fn recv_binary(&mut self) -> Vec<u8> {
        match self.recv().await {
            Some(Message::Binary(bytes)) => bytes.to_vec(),
            other => panic!("expected a binary message, got {other:?}"),
        }
    }

    /// Reads the hello and answers it as `identity`.
    pub async fn handshake(&mut self, identity: &IdentityKeyPair) {
        let hello = self.recv_binary().await;
        let outcome = ServerHandshake::respond(identity, &hello).expect("a well-formed hello");
        self.send_binary(outcome.reply).await;
        self.session = Some(outcome.session);
    }

    fn session(&self) -> &Session {
        self.session.as_ref().expect("handshake done")
    }

    /// Opens the next frame as a plaintext.
    pub async fn recv_plaintext(&mut self) -> Vec<u8> {
        let frame = self.recv_binary().await;
        self.session().open(&frame).expect("an authentic frame")
    }

    pub async fn recv_request(&mut self) -> Request {
        Request::decode(&self.recv_plaintext().await).expect("a request")
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws.send(Message::Binary(bytes.into())).await.unwrap();
    }

    pub async fn send_sealed(&mut self, plaintext: &[u8]) {
        let frame = self.session().seal(plaintext).unwrap();
        self.send_binary(frame).await;
    }

    pub async fn respond(&mut self, response: Response) {
        self.send_sealed(&response.encode()).await;
    }

    /// Reads `start-session` and answers it OK with [`TOKEN`].
    pub async fn accept_start_session(&mut self) -> Request {
        let request = self.recv_request().await;
        assert_eq!(request.r, "start-session");
        self.respond(Response::ok(request.q, start_result().to_value()))
            .await;
        request
    }

    /// Sends a close frame with `code`.
    pub async fn close(&mut self, code: u16) {
        let frame = CloseFrame {
            code: WsCloseCode::from(code),
            reason: "".into(),
        };
        let _ = self.ws.close(Some(frame)).await;
    }

    /// Waits until the client has gone, up to a few seconds.
    pub async fn drain(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while self.recv().await.is_some() {}
        })
        .await;
    }
}

/// Binds 127.0.0.1:0 and runs `script` on the first accepted WebSocket.
/// Returns the `ws://` URL and the script's task (await it to surface its
/// assertions).
pub async fn serve<F, Fut>(script: F) -> (String, JoinHandle<()>)
where
    F: FnOnce(Peer<TcpStream>) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        script(Peer::new(ws)).await;
    });
    (url, task)
}

/// A client config for tests: short timeouts and a fixed clock.
pub fn config() -> ClientConfig {
    ClientConfig::default()
        .with_connect_timeout(Duration::from_secs(5))
        .with_request_timeout(Duration::from_secs(5))
        .with_clock(|| 1_735_000_000)
}

/// Connects to a fake peer as [`identity`] and starts a session.
pub async fn started_client(url: &str) -> Client {
    let mut client = config().connect(url, identity().public()).await.unwrap();
    client.start_session(start_request()).await.unwrap();
    client
}

/// A fake peer script prefix: handshake and an OK `start-session`.
pub async fn handshake_and_start(peer: &mut Peer<TcpStream>) {
    peer.handshake(&identity()).await;
    peer.accept_start_session().await;
}

/// A payload map.
pub fn map(entries: &[(&str, Value)]) -> Value {
    Value::Map(
        entries
            .iter()
            .map(|(k, v)| (Value::from(*k), v.clone()))
            .collect(),
    )
}
