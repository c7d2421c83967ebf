//! Rules 2 to 4: which read values are usable, and the derivations from
//! the machine id or the random id.

use aws_lc_rs::digest;

use super::{DeviceIdSource, DeviceIdentity, Fallback, HardwareIds};

const PLACEHOLDERS: &[&str] = &[
    "to be filled by o.e.m.",
    "to be filled by oem",
    "to be filled by o.e.m",
    "default string",
    "default",
    "system serial number",
    "system product name",
    "chassis serial number",
    "base board serial number",
    "baseboard serial number",
    "not specified",
    "not applicable",
    "not available",
    "not settable",
    "none",
    "null",
    "nil",
    "n/a",
    "na",
    "oem",
    "o.e.m.",
    "invalid",
    "unknown",
    "empty",
    "serial",
    "serial number",
    "serialnumber",
    "no asset tag",
    "0123456789",
    "123456789",
    "1234567890",
    "03000200-0400-0500-0006-000700080009",
    "00020003-0004-0005-0006-000700080009",
    "12345678-1234-5678-90ab-cddeefaabbcc",
];

/// Whether `value` (trimmed) is a known placeholder shared by many machines: a
/// listed vendor default, or one character repeated (`0`, `00000000-0000-...`,
/// `FFFFFFFF-FFFF-...`, `xxxxxxxx`), ignoring dashes, whitespace, dots and colons.
pub fn is_placeholder(value: &str) -> bool {
    let text = value
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    if PLACEHOLDERS.contains(&text.as_str()) {
        return true;
    }
    let mut bare = text
        .chars()
        .filter(|c| !(matches!(c, '-' | '.' | ':') || c.is_whitespace()));
    match bare.next() {
        None => true,
        Some(first) => bare.all(|c| c == first),
    }
}

/// The trimmed value when it is usable as an identity half (rule 2).
pub fn usable_value(value: Option<&str>) -> Option<String> {
    let trimmed = value?.trim();
    let length = trimmed.chars().count();
    if !(1..=128).contains(&length)
        || trimmed.chars().any(|c| c <= '\u{1f}' || c == '\u{7f}')
        || is_placeholder(trimmed)
    {
        return None;
    }
    Some(trimmed.to_owned())
}

/// A machine id as 32 lowercase hex digits (`/etc/machine-id`, or a Windows
/// `MachineGuid` with braces and dashes removed); `None` when it is missing,
/// malformed or a placeholder.
pub fn normalize_machine_id(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    let trimmed = trimmed.strip_prefix('{').unwrap_or(trimmed);
    let trimmed = trimmed.strip_suffix('}').unwrap_or(trimmed);
    let hex: String = trimmed
        .chars()
        .filter(|c| *c != '-')
        .collect::<String>()
        .to_ascii_lowercase();
    let is_hex = hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit());
    let first = hex.as_bytes().first().copied();
    if !is_hex || hex.bytes().all(|b| Some(b) == first) {
        return None;
    }
    Some(hex)
}

fn sha256_hex(text: &str) -> String {
    hex::encode(digest::digest(&digest::SHA256, text.as_bytes()))
}

/// Rule 3/4's serial: `prefix` (`MID-` or `RND-`) and the first 24 hex digits,
/// upper case, of SHA-256(`"skyline-device-serial-v1\n"` + id).
pub fn derived_serial(id: &str, prefix: &str) -> String {
    let h = sha256_hex(&format!("skyline-device-serial-v1\n{id}"));
    format!("{prefix}{}", h[..24].to_ascii_uppercase())
}

/// Rule 3/4's UUID: the first 16 bytes of SHA-256(`"skyline-device-uuid-v1\n"`
/// + id), upper case, as 8-4-4-4-12.
pub fn derived_uuid(id: &str) -> String {
    let h = sha256_hex(&format!("skyline-device-uuid-v1\n{id}"))[..32].to_ascii_uppercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Applies rules 2 to 4 to values already read. `None` when a value needs a
/// fallback and there is none.
pub fn resolve(hardware: &HardwareIds, fallback: Option<&Fallback>) -> Option<DeviceIdentity> {
    let serial = usable_value(hardware.serial.as_deref());
    let uuid = usable_value(hardware.uuid.as_deref());
    let derive = |f: &Fallback| match f {
        Fallback::MachineId(id) => (id.clone(), "MID-", DeviceIdSource::MachineId),
        Fallback::Random(id) => (id.clone(), "RND-", DeviceIdSource::Random),
    };
    let (serial, serial_source) = match serial {
        Some(s) => (s, DeviceIdSource::Hardware),
        None => {
            let (id, prefix, source) = derive(fallback?);
            (derived_serial(&id, prefix), source)
        }
    };
    let (uuid, uuid_source) = match uuid {
        Some(u) => (u, DeviceIdSource::Hardware),
        None => {
            let (id, _, source) = derive(fallback?);
            (derived_uuid(&id), source)
        }
    };
    Some(DeviceIdentity {
        device_serial_number: serial,
        cs_product_uuid: uuid,
        serial_source,
        uuid_source,
    })
}
