//! The echo scenarios, against the server's benchmark endpoints
//! (`skyline serve --bench-echo`): the same WebSocket transport as `/ws`,
//! without the protocol (`/echo`) or with the frame crypto alone
//! (`/echo-sealed`). They are the ceilings the RPC scenarios are held against.

use std::sync::Arc;

use skyline_client::{Incoming, RawSocket};
use skyline_protocol::methods::GET_FEATURE_TOGGLES;
use skyline_protocol::{ClientHandshake, CloseCode, Request, Session, Value};

use super::control::Phase;
use super::scenarios::{Channel, Ctx, Opener};
use super::stats::{Failure, Recorder};

/// Bytes of a sealed `get-feature-toggles` request late in a session: the
/// default echo message, so that `echo-baseline` moves what `toggles` sends.
pub fn toggles_request_bytes() -> usize {
    let request = Request {
        q: 1_000_000,
        t: 1_750_000_000,
        r: GET_FEATURE_TOGGLES.to_owned(),
        s: Some("0123abcd-4567ef89".to_owned()),
        d: Value::Nil,
    };
    request.encode().len() + FRAME_OVERHEAD
}

/// Nonce and tag around every sealed frame (PROTOCOL.md §4).
const FRAME_OVERHEAD: usize = 12 + 16;

/// Bytes of a `client-hello`: the message of `echo-connect`, so that it
/// moves what `handshake` moves.
pub fn hello_bytes() -> Result<usize, Failure> {
    let (_, hello) =
        ClientHandshake::start().map_err(|e| Failure::new("handshake", e.to_string()))?;
    Ok(hello.len())
}

/// The next message must be a binary one.
async fn recv_binary(socket: &mut RawSocket) -> Result<Vec<u8>, Failure> {
    match socket.recv().await? {
        Incoming::Binary(bytes) => Ok(bytes),
        Incoming::Text(_) => Err(Failure::new("text frame", "the server sent a text frame")),
        Incoming::Close { code, reason } => Err(Failure::new(
            format!("closed {}", code.map_or(0, |c| c.0)),
            format!("the server closed the connection: {reason}"),
        )),
        Incoming::Eof => Err(Failure::new(
            "closed without a close frame",
            "the connection ended",
        )),
    }
}

fn check_echo(sent: &[u8], got: &[u8]) -> Result<(), Failure> {
    if sent == got {
        Ok(())
    } else {
        Err(Failure::new(
            "wrong echo",
            format!(
                "sent {} bytes, got {} different bytes back",
                sent.len(),
                got.len()
            ),
        ))
    }
}

async fn close_socket(mut socket: RawSocket) -> Result<(), Failure> {
    Ok(socket.close(CloseCode::NORMAL, "").await?)
}

/// `echo-connect`: connect, upgrade, one message echoed, close.
pub async fn connect(ctx: Arc<Ctx>, worker: usize) {
    let mut recorder = Recorder::new(ctx.tally.clone());
    ctx.control.ready();
    ctx.control.until(Phase::Measure).await;
    let mut pacer = ctx.control.pacer(worker, ctx.workers);
    while ctx.control.ticket().is_some() {
        let due = pacer.due().await;
        let attempt = async {
            let mut socket = ctx.target.socket().await?;
            socket.send_binary(ctx.message.clone()).await?;
            let echoed = recv_binary(&mut socket).await;
            Ok::<_, Failure>((socket, echoed))
        };
        match attempt.await {
            Ok((socket, echoed)) => {
                match echoed.and_then(|got| check_echo(&ctx.message, &got)) {
                    Ok(()) => recorder.ok(due.elapsed()),
                    Err(failure) => recorder.error(failure),
                }
                if let Err(failure) = close_socket(socket).await {
                    recorder.error(failure.during("close"));
                }
            }
            Err(failure) => {
                recorder.error(failure);
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
    recorder.flush();
    ctx.control.measured();
    ctx.control.until(Phase::Teardown).await;
}

/// Opens `/echo` (plain) or `/echo-sealed` (after the handshake) connections.
#[derive(Debug)]
pub struct EchoOpener {
    ctx: Arc<Ctx>,
    sealed: bool,
}

impl EchoOpener {
    pub fn plain(ctx: Arc<Ctx>) -> Self {
        EchoOpener { ctx, sealed: false }
    }

    pub fn sealed(ctx: Arc<Ctx>) -> Self {
        EchoOpener { ctx, sealed: true }
    }
}

impl Opener for EchoOpener {
    type Channel = EchoChannel;

    async fn open(&mut self) -> Result<EchoChannel, Failure> {
        let mut socket = self.ctx.target.socket().await?;
        let session = if self.sealed {
            let pinned = self.ctx.target.pinned()?;
            let (handshake, hello) =
                ClientHandshake::start().map_err(|e| Failure::new("handshake", e.to_string()))?;
            socket.send_binary(hello).await?;
            let reply = recv_binary(&mut socket).await?;
            Some(
                handshake
                    .finish(&pinned, &reply)
                    .map_err(|e| Failure::new("handshake", e.to_string()))?,
            )
        } else {
            None
        };
        // Sealed, the plaintext is shorter by the frame overhead, so the
        // frames on the wire have the configured size.
        let mut message = self.ctx.message.clone();
        if session.is_some() {
            message.truncate(message.len().saturating_sub(FRAME_OVERHEAD));
        }
        Ok(EchoChannel {
            socket,
            session,
            message,
            broken: false,
        })
    }
}

/// A held echo connection.
#[derive(Debug)]
pub struct EchoChannel {
    socket: RawSocket,
    /// `/echo-sealed`: frames are sealed and opened under this session.
    session: Option<Session>,
    /// What is sent (the plaintext, when sealed) and must come back.
    message: Vec<u8>,
    broken: bool,
}

impl EchoChannel {
    fn failed(&mut self, failure: Failure) -> Failure {
        self.broken = true;
        failure
    }
}

impl Channel for EchoChannel {
    async fn send(&mut self) -> Result<(), Failure> {
        let frame = match &self.session {
            None => self.message.clone(),
            Some(session) => session
                .seal(&self.message)
                .map_err(|e| Failure::new("seal", e.to_string()))?,
        };
        match self.socket.send_binary(frame).await {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(e.into())),
        }
    }

    async fn recv(&mut self) -> Result<(), Failure> {
        let got = match recv_binary(&mut self.socket).await {
            Ok(got) => got,
            Err(failure) => return Err(self.failed(failure)),
        };
        let got = match &self.session {
            None => got,
            Some(session) => match session.open(&got) {
                Ok(plaintext) => plaintext,
                Err(e) => {
                    return Err(self.failed(Failure::new("undecryptable frame", e.to_string())))
                }
            },
        };
        check_echo(&self.message, &got).map_err(|failure| self.failed(failure))
    }

    fn broken(&self) -> bool {
        self.broken
    }

    async fn close(self) -> Result<(), Failure> {
        close_socket(self.socket).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_messages_have_the_sizes_of_what_they_stand_for() {
        // q (5) t (5) r (20) s (18) d (nil) in a map, plus nonce and tag.
        let bytes = toggles_request_bytes();
        assert!((70..120).contains(&bytes), "{bytes}");
        let hello = hello_bytes().unwrap();
        assert!((90..140).contains(&hello), "{hello}");
    }
}
