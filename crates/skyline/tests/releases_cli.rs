//! `skyline release …`, `skyline admin-token …` and `skyline serve` with the
//! admin API, run as a user runs them: publish with the CLI, download from
//! the served `/download` with the client crate, call the admin API with a
//! token the CLI printed.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{fails, json, ok, skyline};
use skyline_client::{download_update, ClientConfig, IdentityPublicKey, UpdateRequest};

/// `skyline serve` with both listeners on port 0; killed when dropped.
struct Served {
    child: Child,
    main: String,
    admin: String,
    pinned: IdentityPublicKey,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(data: &Path) -> Served {
    let mut child = skyline(data)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--handshakes-per-second",
            "0",
            "--log",
            "warn",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start skyline serve");
    let stdout = child.stdout.take().expect("stdout");
    let (lines, banner) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = lines.send(line);
        }
    });
    let (mut main, mut admin, mut pinned) = (None, None, None);
    while main.is_none() || admin.is_none() || pinned.is_none() {
        let line = banner
            .recv_timeout(Duration::from_secs(120))
            .expect("the serve banner");
        if let Some(rest) = line.strip_prefix("Skyline is listening on ws://") {
            main = Some(rest.trim_end_matches("/ws").to_owned());
        } else if let Some(rest) = line.strip_prefix("Admin API: http://") {
            admin = Some(rest.split("/admin").next().unwrap().to_owned());
        } else if let Some(hex) = line.strip_prefix("Identity public key: ") {
            pinned = Some(IdentityPublicKey::from_hex(hex.trim()).unwrap());
        }
    }
    Served {
        child,
        main: main.unwrap(),
        admin: admin.unwrap(),
        pinned: pinned.unwrap(),
    }
}

/// One HTTP/1.1 request over a plain socket; returns the status and body.
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().expect("a status code");
    let body = answer.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_owned())
}

#[test]
fn publish_serve_download_and_administer() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(
        &data,
        &["product", "create", "telepower", "--min-version", "1.0.0"],
    );
    let artifact: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let file = dir.path().join("TelePower Setup.exe");
    std::fs::write(&file, &artifact).unwrap();
    let file_arg = file.to_str().unwrap();

    // Publishing signs: without the identity key it fails, saying why, and
    // creates no key.
    let unsigned = fails(
        &data,
        &[
            "release",
            "publish",
            "--product",
            "telepower",
            "--version",
            "1.2.0",
            file_arg,
        ],
    );
    assert!(unsigned.contains("no identity key at"), "{unsigned}");
    assert!(!data.join("identity.key").exists());
    let key_path = data.join("identity.key");
    ok(&data, &["keygen", "--out", key_path.to_str().unwrap()]);

    let published = json(
        &data,
        &[
            "release",
            "publish",
            "--product",
            "telepower",
            "--version",
            "1.2.0",
            "--min-version",
            "1.1.0",
            file_arg,
        ],
    );
    let sha = published["sha256"].as_str().unwrap().to_owned();
    assert_eq!(published["fileName"], "TelePower_Setup.exe");
    assert!(
        data.join("releases").join(&sha).is_file(),
        "stored by digest"
    );
    let products = json(&data, &["product", "list"]);
    assert_eq!(products[0]["minVersion"], "1.1.0");
    let again = fails(
        &data,
        &[
            "release",
            "publish",
            "--product",
            "telepower",
            "--version",
            "1.2",
            file_arg,
        ],
    );
    assert!(again.contains("already exists"), "{again}");
    let unknown = fails(
        &data,
        &[
            "release",
            "publish",
            "--product",
            "nope",
            "--version",
            "1.0",
            file_arg,
        ],
    );
    assert!(unknown.contains("product `nope` not found"), "{unknown}");
    let listed = ok(&data, &["release", "list", "--product", "telepower"]);
    assert!(
        listed.contains("1.2.0") && listed.contains(&sha[..16]),
        "{listed}"
    );

    let token = json(&data, &["admin-token", "create", "--name", "shop"]);
    let secret = token["token"].as_str().unwrap().to_owned();
    let reader = json(
        &data,
        &["admin-token", "create", "--name", "reports", "--read-only"],
    );
    assert_eq!(reader["readOnly"], true);
    let tokens = json(&data, &["admin-token", "list"]);
    assert_eq!(tokens.as_array().unwrap().len(), 2);
    assert!(
        !tokens.to_string().contains(&secret[20..]),
        "secrets are never listed"
    );

    {
        let server = serve(&data);
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let dest = dir.path().join("updates");
        let update = runtime
            .block_on(download_update(
                &ClientConfig::default(),
                &UpdateRequest::new(format!("http://{}", server.main), "telepower"),
                server.pinned,
                &dest,
            ))
            .unwrap();
        assert_eq!(update.path, dest.join("TelePower_Setup.exe"));
        assert_eq!(std::fs::read(&update.path).unwrap(), artifact);

        let (status, body) = http(&server.admin, "GET", "/admin/products", Some(&secret));
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"telepower\""), "{body}");
        let (status, _) = http(&server.admin, "GET", "/admin/products", None);
        assert_eq!(status, 401);
        let (status, _) = http(&server.admin, "GET", "/admin/openapi.json", None);
        assert_eq!(status, 200);
    }

    ok(
        &data,
        &[
            "release",
            "yank",
            "--product",
            "telepower",
            "--version",
            "1.2.0",
        ],
    );
    let listed = json(&data, &["release", "list", "--product", "telepower"]);
    assert_eq!(listed[0]["yanked"], true);
    let id = token["id"].as_str().unwrap();
    let revoked = ok(&data, &["admin-token", "revoke", id]);
    assert!(revoked.contains("revoked"), "{revoked}");
    let audit = json(&data, &["audit"]);
    let actions: Vec<&str> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for action in [
        "release-published",
        "product-updated",
        "admin-token-created",
        "admin-token-used",
        "release-yanked",
        "admin-token-revoked",
    ] {
        assert!(actions.contains(&action), "{action} in {actions:?}");
    }
    let bad = fails(&data, &["serve", "--admin-listen", "somewhere"]);
    assert!(bad.contains("neither HOST:PORT nor `off`"), "{bad}");
}
