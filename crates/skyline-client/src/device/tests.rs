//! The platform readers and rules on captured output.

use super::*;

fn utf16(text: &str) -> Vec<u8> {
    let mut out = vec![0xff, 0xfe];
    for unit in text.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

#[test]
fn powershell_script_output() {
    let out = b"UUID=4C4C4544-0042-3510-8052-B4C04F4B4E32\r\nSerialNumber=5BRDKN2\r\nMachineGuid=0f6b3a1e-7c2d-4e5f-9a8b-1c2d3e4f5a6b\r\n";
    assert_eq!(
        parse_windows_output(out),
        WindowsIds {
            uuid: Some("4C4C4544-0042-3510-8052-B4C04F4B4E32".into()),
            serial: Some("5BRDKN2".into()),
            machine_guid: Some("0f6b3a1e-7c2d-4e5f-9a8b-1c2d3e4f5a6b".into()),
        }
    );
}

#[test]
fn wmic_value_output_in_utf16() {
    let out = utf16("\r\r\n\r\r\nSerialNumber=5BRDKN2\r\r\n\r\r\n\r\r\n\r\r\n");
    assert_eq!(
        parse_windows_output(&out).serial.as_deref(),
        Some("5BRDKN2")
    );
    let table = utf16("UUID                                  \r\r\n8B5E4C2A-91F3-4D7B-A0C6-2E1F3B4A5C6D  \r\r\n\r\r\n");
    assert_eq!(
        parse_windows_output(&table).uuid.as_deref(),
        Some("8B5E4C2A-91F3-4D7B-A0C6-2E1F3B4A5C6D")
    );
}

#[test]
fn format_list_output_of_a_virtualbox_guest() {
    let out = b"\r\n\r\nIdentifyingNumber : 0\r\nName              : VirtualBox\r\nUUID              : 00000000-0000-0000-0000-000000000000\r\n\r\nSerialNumber      : 0\r\n";
    let ids = parse_windows_output(out);
    assert_eq!(ids.serial.as_deref(), Some("0"));
    assert_eq!(
        ids.uuid.as_deref(),
        Some("00000000-0000-0000-0000-000000000000")
    );
    assert!(usable_value(ids.serial.as_deref()).is_none());
    assert!(usable_value(ids.uuid.as_deref()).is_none());
}

#[test]
fn reg_query_output() {
    let out = b"\r\nHKEY_LOCAL_MACHINE\\SOFTWARE\\Microsoft\\Cryptography\r\n    MachineGuid    REG_SZ    0f6b3a1e-7c2d-4e5f-9a8b-1c2d3e4f5a6b\r\n\r\n";
    assert_eq!(
        parse_reg_machine_guid(out).as_deref(),
        Some("0f6b3a1e-7c2d-4e5f-9a8b-1c2d3e4f5a6b")
    );
    assert_eq!(parse_reg_machine_guid(b"ERROR: not found"), None);
}

#[test]
fn ioreg_output() {
    let out = br#"+-o MacBookPro18,3  <class IOPlatformExpertDevice, id 0x100000241, registered, matched, active, busy 0 (0 ms), retain 35>
{
  "serial-number" = <43303258 4b304141 4a47354a 00000000>
  "IOPlatformSerialNumber" = "C02XK0AAJG5J"
  "model" = <"MacBookPro18,3">
  "IOPlatformUUID" = "2FA0C7F3-E255-EBC3-547F-2377377A6644"
}
"#;
    assert_eq!(
        parse_ioreg(out),
        HardwareIds {
            serial: Some("C02XK0AAJG5J".into()),
            uuid: Some("2FA0C7F3-E255-EBC3-547F-2377377A6644".into()),
        }
    );
}

#[test]
fn placeholders() {
    for p in [
        "To Be Filled By O.E.M.",
        "Default string",
        "System Serial Number",
        "0",
        "None",
        "00000000-0000-0000-0000-000000000000",
        "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF",
        "03000200-0400-0500-0006-000700080009",
        "",
    ] {
        assert!(is_placeholder(p), "{p:?}");
    }
    for p in ["5BRDKN2", "C02XK0AAJG5J", "01"] {
        assert!(!is_placeholder(p), "{p:?}");
    }
}

#[test]
fn fallbacks() {
    let mid = "3d1219c7c4c5404aaa1f6d2a48adfda4".to_owned();
    let id = resolve(
        &HardwareIds {
            serial: Some("To Be Filled By O.E.M.".into()),
            uuid: Some("4C4C4544-0042-3510-8052-B4C04F4B4E32".into()),
        },
        Some(&Fallback::MachineId(mid.clone())),
    )
    .unwrap();
    assert_eq!(id.device_serial_number, "MID-EA717861A386ADEE8E89255E");
    assert_eq!(id.serial_source, DeviceIdSource::MachineId);
    assert_eq!(id.uuid_source, DeviceIdSource::Hardware);
    assert_eq!(derived_uuid(&mid), "17523BE4-5ED8-AC4A-A894-C7CAF5FEE4FB");
    assert!(resolve(&HardwareIds::default(), None).is_none());
}
