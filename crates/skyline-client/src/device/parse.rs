//! The Windows and macOS commands' output, parsed (unit-tested on captured
//! output in `tests.rs`).

use super::{HardwareIds, WindowsIds};

/// Command output as text: UTF-16LE when it has a BOM or NUL bytes (what
/// `wmic` writes to a pipe), else UTF-8 (lossy).
pub fn decode_command_output(output: &[u8]) -> String {
    if output.starts_with(&[0xff, 0xfe]) || output.contains(&0) {
        let units: Vec<u16> = output
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let text = String::from_utf16_lossy(&units);
        return text.strip_prefix('\u{feff}').unwrap_or(&text).to_owned();
    }
    String::from_utf8_lossy(output).into_owned()
}

/// `Key=Value` or `Key : Value`, with the key in ASCII letters.
fn key_value(line: &str) -> Option<(String, String)> {
    let key_len = line.bytes().take_while(|b| b.is_ascii_alphabetic()).count();
    if key_len == 0 {
        return None;
    }
    let rest = &line[key_len..];
    let after_ws = rest.trim_start();
    let had_ws = after_ws.len() < rest.len();
    let value = if let Some(v) = after_ws.strip_prefix('=') {
        v
    } else if had_ws {
        after_ws.strip_prefix(':')?
    } else {
        return None;
    };
    Some((
        line[..key_len].to_ascii_lowercase(),
        value.trim().to_owned(),
    ))
}

/// Parses the Windows commands' output: `Key=Value` lines (`wmic ... /value`,
/// and the PowerShell script of this module), `Key : Value` lines
/// (`Format-List`), or a `wmic ... get` table (a header line, then the value).
pub fn parse_windows_output(output: &[u8]) -> WindowsIds {
    let text = decode_command_output(output);
    let lines: Vec<&str> = text
        .split('\n')
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut found: Vec<(String, String)> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some((key, value)) = key_value(line) {
            if !found.iter().any(|(k, _)| *k == key) {
                found.push((key, value));
            }
            i += 1;
            continue;
        }
        let header = line.to_lowercase();
        if header == "uuid" || header == "serialnumber" {
            if let Some(next) = lines.get(i + 1).filter(|n| !n.contains('=')) {
                if !found.iter().any(|(k, _)| *k == header) {
                    found.push((header, (*next).to_owned()));
                }
                i += 1;
            }
        }
        i += 1;
    }
    let value = |key: &str| {
        found
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    WindowsIds {
        uuid: value("uuid"),
        serial: value("serialnumber"),
        machine_guid: value("machineguid"),
    }
}

/// Parses `reg query HKLM\SOFTWARE\Microsoft\Cryptography /v MachineGuid` output.
pub fn parse_reg_machine_guid(output: &[u8]) -> Option<String> {
    let text = decode_command_output(output);
    let lower = text.to_ascii_lowercase();
    let mut from = 0;
    while let Some(at) = lower[from..].find("machineguid") {
        let start = from + at + "machineguid".len();
        from = start;
        let rest = &text[start..];
        let after = rest.trim_start();
        if after.len() == rest.len() || !after.to_ascii_lowercase().starts_with("reg_sz") {
            continue;
        }
        let value_part = &after["reg_sz".len()..];
        let value = value_part.trim_start();
        if value.len() == value_part.len() {
            continue;
        }
        let token: String = value.chars().take_while(|c| !c.is_whitespace()).collect();
        if !token.is_empty() {
            return Some(token);
        }
    }
    None
}

fn ioreg_value(text: &str, key: &str) -> Option<String> {
    let quoted = format!("\"{key}\"");
    let at = text.find(&quoted)?;
    let rest = text[at + quoted.len()..].trim_start();
    let rest = rest.strip_prefix('=')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

/// Parses `ioreg -rd1 -c IOPlatformExpertDevice` output: `IOPlatformUUID` and
/// `IOPlatformSerialNumber`.
pub fn parse_ioreg(output: &[u8]) -> HardwareIds {
    let text = decode_command_output(output);
    HardwareIds {
        uuid: ioreg_value(&text, "IOPlatformUUID"),
        serial: ioreg_value(&text, "IOPlatformSerialNumber"),
    }
}
