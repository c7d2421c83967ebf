//! Device identity: the `deviceSerialNumber` and `csProductUUID` that
//! `start-session` binds a license to (PROTOCOL.md section 6 step 6).
//!
//! The TypeScript SDK (`sdks/typescript/src/device.ts`) applies the same rules
//! with the same derivations, so both SDKs name a machine alike; both test
//! suites read the same cases (`sdks/typescript/test/fixtures/device/`).
//!
//! 1. Read the hardware values:
//!    - Windows: `Win32_ComputerSystemProduct.UUID` and `Win32_BIOS.SerialNumber`
//!      through `powershell Get-CimInstance`, else `wmic ... /value`;
//!    - macOS: `IOPlatformUUID` and `IOPlatformSerialNumber` from
//!      `ioreg -rd1 -c IOPlatformExpertDevice`;
//!    - Linux: `/sys/class/dmi/id/product_uuid` and `product_serial` (readable
//!      by root only on most distributions).
//! 2. A value is usable when, trimmed, it has 1..128 characters, no control
//!    characters, and is not a known shared placeholder ([`is_placeholder`]:
//!    "To Be Filled By O.E.M.", "Default string", "System Serial Number",
//!    "None", "0", all-zero or all-F UUIDs, one character repeated, ...).
//! 3. Each value that is not usable is derived from the OS machine id:
//!    `/etc/machine-id` (or `/var/lib/dbus/machine-id`) on Linux, except inside
//!    a container, where it usually comes with the image and is shared by every
//!    container started from it; `MachineGuid` under
//!    `HKLM\SOFTWARE\Microsoft\Cryptography` on Windows; none on macOS. Only
//!    SHA-256 derivations of the machine id are sent ([`derived_serial`],
//!    [`derived_uuid`]), never the id itself.
//! 4. Without a usable machine id, a random 128-bit id is created once and kept
//!    in `<data_dir>/skyline-device-id` (derived serials then start with `RND-`).
//!    No data directory then means no identity: [`DeviceError::Unavailable`].
//!
//! [`device_identity`] reads files and runs commands: it blocks. From async
//! code, call it inside `tokio::task::spawn_blocking`.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use aws_lc_rs::digest;

/// The file, in the app's data directory, holding the random fallback id.
pub const DEVICE_ID_FILE: &str = "skyline-device-id";

/// Where a half of the identity came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceIdSource {
    /// Read from the hardware (BIOS, DMI, IOKit).
    Hardware,
    /// Derived from the OS machine id.
    MachineId,
    /// Derived from the random id kept in the data directory.
    Random,
}

impl DeviceIdSource {
    /// `hardware`, `machine-id` or `random`, as the TypeScript SDK spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceIdSource::Hardware => "hardware",
            DeviceIdSource::MachineId => "machine-id",
            DeviceIdSource::Random => "random",
        }
    }
}

/// A device identity and where each half came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// `deviceSerialNumber`.
    pub device_serial_number: String,
    /// `csProductUUID`.
    pub cs_product_uuid: String,
    /// Source of `device_serial_number`.
    pub serial_source: DeviceIdSource,
    /// Source of `cs_product_uuid`.
    pub uuid_source: DeviceIdSource,
}

/// Hardware values as read, before the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HardwareIds {
    /// The serial number, if one was read.
    pub serial: Option<String>,
    /// The UUID, if one was read.
    pub uuid: Option<String>,
}

/// What the Windows commands print.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsIds {
    /// `Win32_ComputerSystemProduct.UUID`.
    pub uuid: Option<String>,
    /// `Win32_BIOS.SerialNumber`.
    pub serial: Option<String>,
    /// `MachineGuid`, when the PowerShell script printed it.
    pub machine_guid: Option<String>,
}

/// The id rules 3 and 4 derive from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// The OS machine id, 32 hex digits.
    MachineId(String),
    /// The random id from the data directory, 32 hex digits.
    Random(String),
}

/// Why no identity could be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// No usable hardware value, no machine id, and no data directory for a random id.
    #[error("this machine has no usable hardware serial number, UUID or machine id; pass a data directory to keep a random device id")]
    Unavailable,
    /// The random id could not be read or written.
    #[error("cannot keep the device id in {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
}

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

/// The PowerShell script: one `Key=Value` line per value, the shape of `wmic /value`.
pub const WINDOWS_POWERSHELL_SCRIPT: &str = "$ErrorActionPreference='SilentlyContinue'; \
$p=Get-CimInstance -ClassName Win32_ComputerSystemProduct; \
$b=Get-CimInstance -ClassName Win32_BIOS; \
$g=(Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' -Name MachineGuid).MachineGuid; \
'UUID='+$p.UUID; 'SerialNumber='+$b.SerialNumber; 'MachineGuid='+$g";

/// Runs a command and gives its standard output.
pub type CommandRunner<'a> = dyn Fn(&str, &[&str]) -> io::Result<Vec<u8>> + 'a;

fn run_command(file: &str, args: &[&str]) -> io::Result<Vec<u8>> {
    let mut command = Command::new(file);
    command
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null());
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        command.creation_flags(CREATE_NO_WINDOW);
    }
    let output = command.output()?;
    if !output.status.success() {
        return Err(io::Error::other(format!(
            "{file} exited with {}",
            output.status
        )));
    }
    Ok(output.stdout)
}

/// Which platform's rules to apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Windows: CIM / wmic and the registry.
    Windows,
    /// macOS: ioreg.
    MacOs,
    /// Linux (and anything else): DMI in sysfs and the machine id.
    Linux,
}

impl Platform {
    /// The platform this program runs on.
    pub fn current() -> Platform {
        if cfg!(windows) {
            Platform::Windows
        } else if cfg!(target_os = "macos") {
            Platform::MacOs
        } else {
            Platform::Linux
        }
    }
}

/// Options of [`device_identity_with`]; all but `data_dir` are for tests.
pub struct DeviceOptions<'a> {
    /// The app's data directory, for the random fallback id (rule 4).
    pub data_dir: Option<&'a Path>,
    /// The rules to apply.
    pub platform: Platform,
    /// Runs the Windows and macOS commands.
    pub run: &'a CommandRunner<'a>,
    /// Prefix of the Linux paths read (`/sys/...`, `/etc/machine-id`).
    pub root: &'a Path,
    /// Whether this is a container (Linux); `None`: detected.
    pub in_container: Option<bool>,
}

impl std::fmt::Debug for DeviceOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceOptions")
            .field("data_dir", &self.data_dir)
            .field("platform", &self.platform)
            .field("root", &self.root)
            .field("in_container", &self.in_container)
            .finish_non_exhaustive()
    }
}

fn read_text(path: &Path) -> Option<String> {
    fs::read(path)
        .ok()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Whether this Linux process runs in a container (Docker, Podman, systemd-nspawn, LXC).
pub fn detect_container(root: &Path) -> bool {
    std::env::var_os("container").is_some_and(|v| !v.is_empty())
        || root.join(".dockerenv").exists()
        || root.join("run/.containerenv").exists()
}

struct Reading {
    hardware: HardwareIds,
    machine_id: Option<String>,
}

fn read_linux(options: &DeviceOptions<'_>) -> Reading {
    let root = options.root;
    let hardware = HardwareIds {
        uuid: read_text(&root.join("sys/class/dmi/id/product_uuid")),
        serial: read_text(&root.join("sys/class/dmi/id/product_serial")),
    };
    let in_container = options
        .in_container
        .unwrap_or_else(|| detect_container(root));
    let machine_id = if in_container {
        None
    } else {
        ["etc/machine-id", "var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| read_text(&root.join(p)).and_then(|t| normalize_machine_id(&t)))
    };
    Reading {
        hardware,
        machine_id,
    }
}

fn read_windows(run: &CommandRunner<'_>) -> Reading {
    let mut parsed = run(
        "powershell.exe",
        &[
            "-NoProfile",
            "-NonInteractive",
            "-ExecutionPolicy",
            "Bypass",
            "-Command",
            WINDOWS_POWERSHELL_SCRIPT,
        ],
    )
    .map(|out| parse_windows_output(&out))
    .unwrap_or_default();
    if usable_value(parsed.uuid.as_deref()).is_none()
        || usable_value(parsed.serial.as_deref()).is_none()
    {
        let legacy = |args: &[&str]| {
            run("wmic", args)
                .map(|out| parse_windows_output(&out))
                .unwrap_or_default()
        };
        if parsed.uuid.is_none() {
            parsed.uuid = legacy(&["csproduct", "get", "UUID", "/value"]).uuid;
        }
        if parsed.serial.is_none() {
            parsed.serial = legacy(&["bios", "get", "SerialNumber", "/value"]).serial;
        }
    }
    let mut machine_guid = parsed.machine_guid.clone();
    if machine_guid
        .as_deref()
        .and_then(normalize_machine_id)
        .is_none()
    {
        machine_guid = run(
            "reg",
            &[
                "query",
                "HKLM\\SOFTWARE\\Microsoft\\Cryptography",
                "/v",
                "MachineGuid",
                "/reg:64",
            ],
        )
        .ok()
        .and_then(|out| parse_reg_machine_guid(&out));
    }
    Reading {
        hardware: HardwareIds {
            uuid: parsed.uuid,
            serial: parsed.serial,
        },
        machine_id: machine_guid.as_deref().and_then(normalize_machine_id),
    }
}

fn read_mac(run: &CommandRunner<'_>) -> Reading {
    Reading {
        hardware: run("/usr/sbin/ioreg", &["-rd1", "-c", "IOPlatformExpertDevice"])
            .map(|out| parse_ioreg(&out))
            .unwrap_or_default(),
        machine_id: None,
    }
}

fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = fs::File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// The random fallback id of rule 4: read from `<data_dir>/skyline-device-id`,
/// or created there once (32 hex digits; created with a hard link, so two
/// processes racing agree on one).
pub fn persisted_random_id(data_dir: &Path) -> Result<String, DeviceError> {
    let path = data_dir.join(DEVICE_ID_FILE);
    let io_err = |source| DeviceError::Io {
        path: path.clone(),
        source,
    };
    if let Some(existing) = read_text(&path).and_then(|t| normalize_machine_id(&t)) {
        return Ok(existing);
    }
    fs::create_dir_all(data_dir).map_err(io_err)?;
    let mut bytes = [0u8; 16];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| io_err(io::Error::other("no randomness")))?;
    let fresh = hex::encode(bytes);
    let mut suffix = [0u8; 4];
    let _ = aws_lc_rs::rand::fill(&mut suffix);
    let temp = data_dir.join(format!(
        "{DEVICE_ID_FILE}.{}.{}.tmp",
        std::process::id(),
        hex::encode(suffix)
    ));
    let written = (|| {
        let mut file = fs::File::create(&temp)?;
        file.write_all(format!("{fresh}\n").as_bytes())?;
        file.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temp);
        return Err(io_err(e));
    }
    let linked = match fs::hard_link(&temp, &path) {
        Ok(()) => Ok(fresh),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            match read_text(&path).and_then(|t| normalize_machine_id(&t)) {
                Some(raced) => Ok(raced),
                None => {
                    // A damaged file: replace it.
                    let _ = fs::remove_file(&path);
                    fs::hard_link(&temp, &path).map(|()| fresh).map_err(io_err)
                }
            }
        }
        Err(e) => Err(io_err(e)),
    };
    let _ = fs::remove_file(&temp);
    sync_dir(data_dir);
    linked
}

/// Reads this machine's identity by the rules of this module, keeping a random
/// id in `data_dir` when it needs one.
pub fn device_identity(data_dir: Option<&Path>) -> Result<DeviceIdentity, DeviceError> {
    device_identity_with(&DeviceOptions {
        data_dir,
        platform: Platform::current(),
        run: &run_command,
        root: Path::new("/"),
        in_container: None,
    })
}

/// [`device_identity`] with every source replaceable (tests).
pub fn device_identity_with(options: &DeviceOptions<'_>) -> Result<DeviceIdentity, DeviceError> {
    let reading = match options.platform {
        Platform::Windows => read_windows(options.run),
        Platform::MacOs => read_mac(options.run),
        Platform::Linux => read_linux(options),
    };
    let machine = reading.machine_id.clone().map(Fallback::MachineId);
    if let Some(identity) = resolve(&reading.hardware, machine.as_ref()) {
        return Ok(identity);
    }
    let data_dir = options.data_dir.ok_or(DeviceError::Unavailable)?;
    let random = Fallback::Random(persisted_random_id(data_dir)?);
    resolve(&reading.hardware, Some(&random)).ok_or(DeviceError::Unavailable)
}

#[cfg(test)]
mod tests {
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
}
