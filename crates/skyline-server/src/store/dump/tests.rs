//! Dump records: their JSON form and the import checks.

use super::*;

fn end(records: u64) -> DumpRecord {
    DumpRecord::End { records }
}

fn product() -> DumpRecord {
    DumpRecord::Product {
        id: "telepower".into(),
        min_version: "7.0.9".into(),
        enabled: true,
    }
}

#[test]
fn json_form_is_tagged_and_camel_case() {
    let json = serde_json::to_value(product()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"type": "product", "id": "telepower", "minVersion": "7.0.9", "enabled": true})
    );
    let back: DumpRecord = serde_json::from_value(json).unwrap();
    assert_eq!(back, product());
}

#[test]
fn imports_need_order_and_an_honest_end() {
    let mut check = ImportCheck::default();
    check.next(&product()).unwrap();
    check.next(&end(1)).unwrap();
    assert_eq!(check.finish().unwrap().products, 1);

    let mut wrong_count = ImportCheck::default();
    wrong_count.next(&product()).unwrap();
    assert!(wrong_count.next(&end(2)).is_err());

    let mut truncated = ImportCheck::default();
    truncated.next(&product()).unwrap();
    assert!(truncated.finish().is_err());

    let mut backwards = ImportCheck::default();
    backwards
        .next(&DumpRecord::Plan {
            id: "p".into(),
            product_id: "telepower".into(),
            duration: "perpetual".into(),
            seats: 1,
        })
        .unwrap();
    assert!(backwards.next(&product()).is_err());
}

#[test]
fn release_records_keep_their_json_names() {
    let json = serde_json::json!({"type": "adminToken", "id": "ab", "name": "billing",
        "readOnly": true, "secretHash": "00", "createdAt": 1, "lastUsedAt": null,
        "revokedAt": null});
    let record: DumpRecord = serde_json::from_value(json).unwrap();
    assert_eq!(record.kind(), "adminToken");
    let blob: DumpRecord = serde_json::from_value(serde_json::json!({"type": "releaseBlob",
        "sha256": "00", "size": 0, "offset": 0, "data": ""}))
    .unwrap();
    assert_eq!(blob.kind(), "releaseBlob");
}
