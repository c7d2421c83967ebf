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

mod parse;
mod rules;
#[cfg(test)]
mod tests;

pub use parse::{decode_command_output, parse_ioreg, parse_reg_machine_guid, parse_windows_output};
pub use rules::{
    derived_serial, derived_uuid, is_placeholder, normalize_machine_id, resolve, usable_value,
};

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
