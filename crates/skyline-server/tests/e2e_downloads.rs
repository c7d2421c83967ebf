//! Update downloads end to end (PROTOCOL.md section 7): publish, then
//! `/download/...` over real HTTP, and `skyline_client::download_update`
//! with resume and verification against the pinned key.

mod http_support;

use base64::Engine;
use http_support::{artifact, get, http, sha256_hex, Harness, PRODUCT};
use skyline_client::{
    download_update, ClientConfig, IdentityPublicKey, UpdateChannel, UpdateError, UpdateRequest,
};
use skyline_server::domain::releases::SetReleaseYanked;
use skyline_server::domain::{Actor, AuditAction, AuditFilter, ReleaseChannel, ReleaseRef};

const FILE: &str = "TelePower-7.1.0.exe";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_ranges_and_conditionals() {
    let server = Harness::start().await;
    let bytes = artifact(300_000, 1);
    let release = server
        .publish("7.1.0", None, ReleaseChannel::Stable, FILE, &bytes)
        .await;
    let latest = format!("{}/download/{PRODUCT}/latest", server.base);
    let sha = sha256_hex(&bytes);
    assert_eq!(hex::encode(release.sha256), sha);

    // HEAD: every header, no body.
    let head = http("HEAD", &latest, &[], Vec::new()).await;
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-length"), Some("300000"));
    // What `curl -OJ` saves the file under.
    assert_eq!(
        head.header("content-disposition"),
        Some("attachment; filename=\"TelePower-7.1.0.exe\"")
    );
    assert_eq!(head.header("etag"), Some(format!("\"{sha}\"").as_str()));
    assert_eq!(head.header("accept-ranges"), Some("bytes"));
    assert_eq!(head.header("x-skyline-sha256"), Some(sha.as_str()));
    assert_eq!(head.header("x-skyline-version"), Some("7.1.0"));
    let signature = base64::engine::general_purpose::STANDARD
        .decode(head.header("x-skyline-signature").unwrap())
        .unwrap();
    let mut digest = [0u8; 32];
    hex::decode_to_slice(&sha, &mut digest).unwrap();
    assert!(
        server.pinned.verify(&digest, &signature),
        "signed over the raw digest"
    );

    // GET: the whole file.
    let full = get(&latest, &[]).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.body, bytes);
    assert_eq!(
        full.header("content-type"),
        Some("application/octet-stream")
    );

    // Ranges: 206 with Content-Range; suffix and open-ended forms.
    let part = get(&latest, &[("range", "bytes=100-199")]).await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some("bytes 100-199/300000"));
    assert_eq!(part.header("content-length"), Some("100"));
    assert_eq!(part.body, &bytes[100..200]);
    let tail = get(&latest, &[("range", "bytes=-10")]).await;
    assert_eq!(tail.body, &bytes[299_990..]);
    let rest = get(&latest, &[("range", "bytes=299000-")]).await;
    assert_eq!((rest.status, rest.body.len()), (206, 1000));
    let head_part = http("HEAD", &latest, &[("range", "bytes=0-9")], Vec::new()).await;
    assert_eq!(
        (head_part.status, head_part.header("content-length")),
        (206, Some("10"))
    );

    // 416 past the end, JSON error with the size.
    let beyond = get(&latest, &[("range", "bytes=300000-")]).await;
    assert_eq!(beyond.status, 416);
    assert_eq!(beyond.header("content-range"), Some("bytes */300000"));
    assert_eq!(beyond.code(), "RANGE_NOT_SATISFIABLE");

    // If-Range with another tag: the whole file. If-None-Match: 304.
    let stale = get(&latest, &[("range", "bytes=0-9"), ("if-range", "\"old\"")]).await;
    assert_eq!((stale.status, stale.body.len()), (200, 300_000));
    let etag = format!("\"{sha}\"");
    let cached = get(&latest, &[("if-none-match", etag.as_str())]).await;
    assert_eq!(cached.status, 304);
    assert!(cached.body.is_empty());
    assert_eq!(cached.header("etag"), Some(etag.as_str()));

    // By version, numerically: 7.1 is 7.1.0.
    let by_version = get(&format!("{}/download/{PRODUCT}/7.1", server.base), &[]).await;
    assert_eq!((by_version.status, by_version.body.len()), (200, 300_000));

    // 404s are JSON with stable codes.
    let unknown = get(&format!("{}/download/nope/latest", server.base), &[]).await;
    assert_eq!(
        (unknown.status, unknown.code()),
        (404, "UNKNOWN_PRODUCT".into())
    );
    let missing = get(&format!("{}/download/{PRODUCT}/9.9.9", server.base), &[]).await;
    assert_eq!(
        (missing.status, missing.code()),
        (404, "UNKNOWN_RELEASE".into())
    );
    let beta = get(&format!("{latest}?platform=mac"), &[]).await;
    assert_eq!(
        beta.status, 200,
        "an every-platform release fits any platform"
    );
    let bad = get(&format!("{latest}?channel=nightly"), &[]).await;
    assert_eq!((bad.status, bad.code()), (400, "BAD_REQUEST".into()));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latest_follows_versions_channels_platforms_and_yanks() {
    let server = Harness::start().await;
    for (version, platform, channel) in [
        ("7.0.9", None, ReleaseChannel::Stable),
        ("7.0.10", None, ReleaseChannel::Stable),
        ("7.2.0", None, ReleaseChannel::Beta),
        ("7.0.10", Some("windows-x64"), ReleaseChannel::Stable),
    ] {
        let bytes = artifact(1000, version.len() as u8 + platform.map_or(0, |_| 50));
        server
            .publish(version, platform, channel, "app.bin", &bytes)
            .await;
    }
    let version_of = |query: &'static str| {
        let url = format!("{}/download/{PRODUCT}/latest{query}", server.base);
        async move {
            let reply = http("HEAD", &url, &[], Vec::new()).await;
            (
                reply.status,
                reply.header("x-skyline-version").map(str::to_owned),
            )
        }
    };
    assert_eq!(version_of("").await, (200, Some("7.0.10".into())));
    assert_eq!(
        version_of("?channel=beta").await,
        (200, Some("7.2.0".into()))
    );
    let win = http(
        "HEAD",
        &format!(
            "{}/download/{PRODUCT}/latest?platform=windows-x64",
            server.base
        ),
        &[],
        Vec::new(),
    )
    .await;
    assert_eq!(win.header("x-skyline-version"), Some("7.0.10"));
    let every = server.store.list_releases(PRODUCT).await.unwrap();
    let win_sha = hex::encode(every.iter().find(|r| r.platform.is_some()).unwrap().sha256);
    assert_eq!(
        win.header("x-skyline-sha256"),
        Some(win_sha.as_str()),
        "the platform's own build"
    );

    let yank = SetReleaseYanked {
        release: ReleaseRef {
            product_id: PRODUCT.into(),
            version: "7.0.10".into(),
            platform: None,
        },
        yanked: true,
    };
    server.store.execute(yank, &Actor::cli(0)).await.unwrap();
    assert_eq!(version_of("").await, (200, Some("7.0.9".into())));
    let gone = get(&format!("{}/download/{PRODUCT}/7.0.10", server.base), &[]).await;
    assert_eq!((gone.status, gone.code()), (410, "RELEASE_YANKED".into()));
    let unyank = SetReleaseYanked {
        release: ReleaseRef {
            product_id: PRODUCT.into(),
            version: "7.0.10".into(),
            platform: None,
        },
        yanked: false,
    };
    server.store.execute(unyank, &Actor::cli(0)).await.unwrap();
    assert_eq!(version_of("").await, (200, Some("7.0.10".into())));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_downloads_resumes_and_refuses_tampering() {
    let server = Harness::start().await;
    let bytes = artifact(200_000, 7);
    let release = server
        .publish("7.1.0", None, ReleaseChannel::Stable, FILE, &bytes)
        .await;
    let config = ClientConfig::default();
    let request = UpdateRequest::new(server.base.clone(), PRODUCT);
    let part_name = format!(".{}.part", hex::encode(release.sha256));

    // A fresh download, saved under the release's file name.
    let fresh = tempfile::tempdir().unwrap();
    let update = download_update(&config, &request, server.pinned, fresh.path())
        .await
        .unwrap();
    assert_eq!(update.path, fresh.path().join(FILE));
    assert_eq!(
        (update.version.as_str(), update.size, update.resumed_from),
        ("7.1.0", 200_000, 0)
    );
    assert_eq!(std::fs::read(&update.path).unwrap(), bytes);

    // A broken download is resumed with Range from where it stopped.
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join(&part_name), &bytes[..64_000]).unwrap();
    let update = download_update(&config, &request, server.pinned, broken.path())
        .await
        .unwrap();
    assert_eq!(update.resumed_from, 64_000);
    assert_eq!(std::fs::read(&update.path).unwrap(), bytes);
    assert!(!broken.path().join(&part_name).exists());

    // A corrupted partial file fails verification and is deleted.
    let corrupt = tempfile::tempdir().unwrap();
    std::fs::write(corrupt.path().join(&part_name), vec![0u8; 1000]).unwrap();
    let err = download_update(&config, &request, server.pinned, corrupt.path())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::DigestMismatch), "{err}");
    assert_eq!(std::fs::read_dir(corrupt.path()).unwrap().count(), 0);

    // A key that is not the server's: nothing is downloaded.
    let other = IdentityPublicKey(
        skyline_protocol::IdentityKeyPair::from_seed(&[9; 32])
            .unwrap()
            .public()
            .0,
    );
    let elsewhere = tempfile::tempdir().unwrap();
    let err = download_update(&config, &request, other, elsewhere.path())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::BadSignature), "{err}");
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);

    // The artifact is tampered with on the server: refused and deleted.
    let blob = server.releases_dir.join(hex::encode(release.sha256));
    let mut tampered = bytes.clone();
    tampered[150_000] ^= 0xff;
    std::fs::write(&blob, &tampered).unwrap();
    let victim = tempfile::tempdir().unwrap();
    let err = download_update(&config, &request, server.pinned, victim.path())
        .await
        .unwrap_err();
    assert!(matches!(err, UpdateError::DigestMismatch), "{err}");
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 0);

    // Unknown product: the server's JSON error comes through.
    let none = UpdateRequest::new(server.base.clone(), "nope").with_channel(UpdateChannel::Beta);
    match download_update(&config, &none, server.pinned, victim.path()).await {
        Err(UpdateError::Status {
            status: 404,
            code: Some(code),
            ..
        }) => {
            assert_eq!(code, "UNKNOWN_PRODUCT")
        }
        other => panic!("{other:?}"),
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_can_raise_the_minimum_version_and_is_audited() {
    let server = Harness::start().await;
    let blobs = skyline_server::blobs::FsBlobStore::new(&server.releases_dir);
    let request = skyline_server::releases::PublishRequest {
        product_id: PRODUCT.into(),
        version: "8.0.0".into(),
        platform: None,
        channel: ReleaseChannel::Stable,
        file_name: "tp.exe".into(),
        min_version: Some("7.5.0".into()),
    };
    let actor = Actor::cli(1);
    skyline_server::releases::publish(
        &server.store,
        &blobs,
        &server.identity,
        &actor,
        request.clone(),
        &mut &b"eight"[..],
        1024,
    )
    .await
    .unwrap();
    let products = server.store.list_products().await.unwrap();
    assert_eq!(products[0].min_version, "7.5.0");
    // The same version again (even spelled 8.0) is refused; the blob stays
    // because the first release uses it.
    let again = skyline_server::releases::PublishRequest {
        version: "8.0".into(),
        min_version: None,
        ..request.clone()
    };
    let err = skyline_server::releases::publish(
        &server.store,
        &blobs,
        &server.identity,
        &actor,
        again,
        &mut &b"eight"[..],
        1024,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read_dir(&server.releases_dir).unwrap().count(), 1);
    // A new artifact whose record fails leaves nothing behind.
    let unknown = skyline_server::releases::PublishRequest {
        version: "9.0".into(),
        min_version: Some("9.1".into()),
        ..request
    };
    let err = skyline_server::releases::publish(
        &server.store,
        &blobs,
        &server.identity,
        &actor,
        unknown,
        &mut &b"nine"[..],
        1024,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("newer than the release"), "{err}");
    assert_eq!(std::fs::read_dir(&server.releases_dir).unwrap().count(), 1);
    let audit = server
        .store
        .list_audit(AuditFilter::default())
        .await
        .unwrap();
    let actions: Vec<AuditAction> = audit.iter().map(|r| r.action).collect();
    assert!(
        actions.contains(&AuditAction::ReleasePublished),
        "{actions:?}"
    );
    assert!(
        actions.contains(&AuditAction::ProductUpdated),
        "{actions:?}"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_saves_the_file_under_its_release_name() {
    // `curl -OJ` takes the name from Content-Disposition; run it when the
    // machine has curl (the header itself is asserted above in any case).
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        return;
    }
    let server = Harness::start().await;
    let bytes = artifact(5000, 3);
    server
        .publish("7.1.0", None, ReleaseChannel::Stable, FILE, &bytes)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("{}/download/{PRODUCT}/latest", server.base);
    let status = tokio::process::Command::new("curl")
        .args(["-sS", "-f", "-O", "-J", &url])
        .current_dir(dir.path())
        .status()
        .await
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(dir.path().join(FILE)).unwrap(), bytes);
    server.stop().await;
}
