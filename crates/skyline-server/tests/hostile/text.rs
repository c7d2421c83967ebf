//! Holes 7, 8 and 9: log and terminal injection, file modes, secrets in
//! `Debug`.

use super::*;

// --- Hole 7: log and terminal injection ---------------------------------------

#[tokio::test]
async fn control_characters_in_device_fields_are_bad_requests_naming_the_field() {
    let server = TestServer::with_catalog(test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let t = server.clock_now();
    let mut request = start_request(&key, "SN-1");
    request.device_serial_number = "SN\u{1b}[2J\u{1b}[31mpwned".into();
    let error = server.refused_at(t, request).await;
    match &error {
        RpcError::BadRequest { message, .. } => {
            assert!(message.contains("deviceSerialNumber"), "{message}")
        }
        other => panic!("expected BAD_REQUEST, got {other:?}"),
    }
    let mut request = start_request(&key, "SN-1");
    request.cs_product_uuid = "UUID\nforged log line".into();
    match server.refused_at(t, request).await {
        RpcError::BadRequest { message, .. } => {
            assert!(message.contains("csProductUUID"), "{message}")
        }
        other => panic!("expected BAD_REQUEST, got {other:?}"),
    }
    assert!(server.license(&key).await.devices.is_empty());
}

/// Everything logged by this test binary.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static INSTALL: Once = Once::new();
    static LOGS: Mutex<Option<Arc<Mutex<Vec<u8>>>>> = Mutex::new(None);
    INSTALL.call_once(|| {
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).expect("one subscriber");
        *LOGS.lock().unwrap() = Some(logs);
    });
    LOGS.lock().unwrap().clone().expect("installed")
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn peer_strings_in_logs_are_escaped_and_cut() {
    let logs = captured_logs();
    let server = TestServer::with_catalog(test_config()).await;
    let mut client = server.connect().await;
    // A first request whose method is 60,000 characters of terminal escapes
    // and forged log lines.
    let method = "\u{1b}]0;owned\u{7}\n2099-01-01 INFO forged\u{1b}[2J".repeat(1_500);
    let request = Request {
        q: 0,
        t: server.clock_now(),
        r: method,
        s: None,
        d: Value::Nil,
    };
    client.raw().send_request(&request).await.expect("send");
    let _ = guarded("answered", client.raw().recv()).await;
    let text = guarded("logged", async {
        loop {
            let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
            if text.contains("request refused") {
                return text;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(!text.contains('\u{1b}'), "a raw escape reached the log");
    assert!(!text.contains('\u{7}'));
    assert!(!text.contains("\n2099-01-01 INFO forged"));
    let line = text
        .lines()
        .find(|l| l.contains("request refused"))
        .expect("the refusal is logged");
    assert!(
        line.len() < 2_000,
        "the logged line is {} bytes",
        line.len()
    );
    assert!(line.contains("\\u{1b}"), "{line}");
}

// --- Hole 8: file modes (the rest is in crates/skyline/tests/hostile.rs) ---

#[cfg(unix)]
#[tokio::test]
async fn the_database_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("a directory");
    let data = dir.path().join("new-data-dir");
    let url = format!("sqlite://{}", data.join("db.sqlite").display());
    let store = skyline_server::store::open(&url, None)
        .await
        .expect("open the store");
    store.close().await;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("db.sqlite")), 0o600, "the database");
    for side in ["db.sqlite-wal", "db.sqlite-shm"] {
        let path = data.join(side);
        if path.exists() {
            assert_eq!(mode(&path) & 0o077, 0, "{side}");
        }
    }
}

// --- Hole 9: secrets in Debug ---------------------------------------------

#[tokio::test]
async fn debug_of_requests_and_results_hides_secrets() {
    let server = TestServer::with_catalog(test_config()).await;
    let key = server.create_key(MONTHLY).await;
    let request = start_request(&key, "SN-1");
    let shown = format!("{request:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert!(shown.contains("SN-1"), "{shown}");
    // The request envelope as the server decodes it.
    let envelope = Request {
        q: 0,
        t: server.clock_now(),
        r: "start-session".into(),
        s: Some("0123abcd-4567ef89".into()),
        d: request.to_value(),
    };
    let decoded = Request::decode(&envelope.encode()).expect("a request");
    let shown = format!("{decoded:?}");
    assert!(!shown.contains(&key), "{shown}");
    assert!(!shown.contains("0123abcd"), "{shown}");
    // A real session's result.
    let (client, session) = server.session_at(server.clock_now(), request).await;
    let token = session.result.session_token.clone();
    for shown in [
        format!("{:?}", session.result),
        format!("{session:?}"),
        format!("{client:?}"),
    ] {
        assert!(!shown.contains(&token), "{shown}");
    }
}
