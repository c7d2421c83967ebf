//! The hostile-client suite's part that needs the `skyline` binary
//! (issue 10): file modes of the data directory, the database and export
//! dumps, exposed identity keys (hole 8), and peer-supplied text in the
//! operator CLI's output (hole 7). The rest is in
//! `crates/skyline-server/tests/hostile.rs`.

mod common;

use common::{fails, ok, run};
use skyline_server::domain::tokens::AppendAudit;
use skyline_server::domain::{Actor, AuditAction, AuditEntry};

#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[test]
fn the_data_directory_database_and_dumps_are_private() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    ok(
        &data,
        &["product", "create", "telepower", "--min-version", "1.0.0"],
    );
    assert_eq!(mode(&data), 0o700, "the data directory");
    assert_eq!(mode(&data.join("skyline.sqlite")), 0o600, "the database");
    let dump = root.path().join("dump.jsonl");
    ok(&data, &["export", "--out", dump.to_str().unwrap()]);
    assert_eq!(mode(&dump), 0o600, "the export dump");
}

#[cfg(unix)]
#[test]
fn an_identity_key_others_can_read_is_refused_unless_allowed() {
    use std::os::unix::fs::PermissionsExt;
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let key = root.path().join("identity.key");
    let key_arg = key.to_str().unwrap();
    ok(&data, &["keygen", "--out", key_arg]);
    ok(&data, &["--identity", key_arg, "product", "list"]);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let error = fails(&data, &["--identity", key_arg, "product", "list"]);
    assert!(error.contains("readable or writable by others"), "{error}");
    assert!(error.contains("chmod 600"), "{error}");
    // The override uses it, loudly.
    let output = run(
        &data,
        &[
            "--identity",
            key_arg,
            "--allow-exposed-identity",
            "product",
            "list",
        ],
    );
    assert!(output.status.success(), "{output:?}");
    // Fixed, it is used without a word.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    ok(&data, &["--identity", key_arg, "product", "list"]);
}

#[tokio::test]
async fn skyline_audit_escapes_what_clients_sent() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    ok(
        &data,
        &["product", "create", "telepower", "--min-version", "1.0.0"],
    );
    // An entry holding what a client sent, as an older version (which took
    // control characters in device serials) may have written it.
    let url = format!("sqlite://{}", data.join("skyline.sqlite").display());
    let store = skyline_server::store::open(&url, None)
        .await
        .expect("open the store");
    let entry = AuditEntry {
        actor: Actor {
            name: "198.51.100.7\u{1b}]0;owned\u{7}".into(),
            at: 1_700_000_000,
        },
        action: AuditAction::DeviceBound,
        product_id: Some("telepower".into()),
        license: None,
        detail: format!(
            "device `SN\u{1b}[2J\u{1b}[31m` bound\n2099-01-01 forged line {}",
            "x".repeat(10_000)
        ),
    };
    store
        .execute(AppendAudit(entry.clone()), &entry.actor)
        .await
        .expect("append");
    store.close().await;
    let out = ok(&data, &["audit"]);
    assert!(!out.contains('\u{1b}'), "a raw escape reached the terminal");
    assert!(!out.contains('\u{7}'));
    assert!(out.contains("\\u{1b}[2J"), "{out}");
    assert!(!out.contains("\n2099-01-01 forged"), "a forged line");
    let line = out
        .lines()
        .find(|l| l.contains("device_bound") || l.contains("SN"))
        .expect("the entry is listed");
    assert!(line.len() < 4_000, "{} bytes", line.len());
    // --json keeps the text whole (JSON escapes it).
    let json = ok(&data, &["--json", "audit"]);
    assert!(!json.contains('\u{1b}'));
    assert!(json.contains("\\u001b[2J"), "{json}");
}
