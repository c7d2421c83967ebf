//! Hole 2: slowloris on the RPC and admin listeners: header and keep-alive
//! timeouts, a head size bound (431), a connection cap.

use super::*;

// --- Hole 2: slowloris on the RPC and admin listeners ---------------------

fn tight_http() -> HttpLimits {
    HttpLimits {
        header_timeout: SHORT,
        keep_alive_timeout: SHORT,
        max_header_bytes: 4096,
        max_connections: 3,
    }
}

/// The admin API on its own listener over `server`'s store, with `http`.
async fn admin_listener(server: &TestServer, http: HttpLimits) -> (SocketAddr, Arc<Refusals>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let refusals = Arc::new(Refusals::default());
    let services = Services {
        identity: Arc::new(identity()),
        store: server.store.clone(),
        blobs: None,
        clock: Arc::new(server.clock.clone()),
        refusals: refusals.clone(),
    };
    let config = AdminConfig {
        http,
        ..AdminConfig::default()
    };
    tokio::spawn(skyline_server::admin::serve(
        listener,
        config,
        services,
        std::future::pending(),
    ));
    (addr, refusals)
}

/// The RPC listener and the admin listener of one server, both with
/// [`tight_http`], and their refusal counters.
async fn both_listeners() -> (TestServer, Vec<(SocketAddr, Arc<Refusals>)>) {
    let config = ServerConfig {
        http: tight_http(),
        ..test_config()
    };
    let server = TestServer::start(config).await;
    let admin = admin_listener(&server, tight_http()).await;
    let listeners = vec![(server.addr, server.refusals.clone()), admin];
    (server, listeners)
}

#[tokio::test]
async fn slow_headers_are_cut_off_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, refusals) in listeners {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .expect("half a request");
        let answer = guarded("a half-sent request is closed", read_to_close(&mut stream)).await;
        assert!(
            answer.is_empty() || answer.starts_with(b"HTTP/1.1 408"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
        refused(&refusals, Limit::HttpHeaderTimeout, 1).await;
    }
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, _) in listeners {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream
            .write_all(b"GET /admin/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("a request");
        // The answer (a 404 on the RPC listener, the document on the admin
        // one), then nothing: the idle connection is closed.
        let answer = guarded("an idle connection is closed", read_to_close(&mut stream)).await;
        assert!(answer.starts_with(b"HTTP/1.1 "), "{answer:?}");
    }
}

#[tokio::test]
async fn oversized_heads_get_431_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, _) in listeners {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut request = b"GET /health HTTP/1.1\r\nHost: x\r\n".to_vec();
        for n in 0..200 {
            writeln!(request, "X-Filler-{n}: {}\r", "f".repeat(100)).expect("write");
        }
        request.extend_from_slice(b"\r\n");
        // The server may close before reading it all.
        let _ = stream.write_all(&request).await;
        let answer = guarded("an oversized head is answered", read_to_close(&mut stream)).await;
        assert!(
            answer.starts_with(b"HTTP/1.1 431"),
            "{}",
            String::from_utf8_lossy(&answer)
        );
    }
}

#[tokio::test]
async fn http_connections_are_capped_on_both_listeners() {
    let (_server, listeners) = both_listeners().await;
    for (addr, refusals) in listeners {
        // Three connections that send nothing hold the three places...
        let mut held = Vec::new();
        for _ in 0..3 {
            held.push(TcpStream::connect(addr).await.expect("connect"));
        }
        // ...so a fourth is closed at once (the kernel accepts it; the
        // server drops it), until the header deadline frees the places.
        let mut over = TcpStream::connect(addr).await.expect("connect");
        let answer = guarded("an extra connection is closed", read_to_close(&mut over)).await;
        assert!(answer.is_empty(), "{answer:?}");
        refused(&refusals, Limit::HttpConnections, 1).await;
        drop(held);
        // Once the places are free, a request is served again.
        let served = guarded("served again", async {
            loop {
                let mut stream = TcpStream::connect(addr).await.expect("connect");
                let _ = stream
                    .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    .await;
                let answer = read_to_close(&mut stream).await;
                if answer.starts_with(b"HTTP/1.1 ") {
                    return answer;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await;
        assert!(served.starts_with(b"HTTP/1.1 "));
    }
}
