//! Device identity: the cases the TypeScript SDK's tests read too
//! (`sdks/typescript/test/fixtures/device/`), so both SDKs parse the same
//! captured output and derive the same identity; and this machine for real.

use std::path::{Path, PathBuf};

use serde_json::Value;
use skyline_client::device::{
    self, derived_serial, derived_uuid, device_identity_with, is_placeholder, normalize_machine_id,
    parse_ioreg, parse_reg_machine_guid, parse_windows_output, persisted_random_id, resolve,
    usable_value, DeviceError, DeviceIdSource, DeviceOptions, Fallback, HardwareIds, Platform,
};

fn fixtures() -> Option<PathBuf> {
    let dir =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdks/typescript/test/fixtures/device");
    dir.join("cases.json").exists().then_some(dir)
}

fn cases() -> Option<(PathBuf, Value)> {
    let Some(dir) = fixtures() else {
        eprintln!("skipped: no sdks/typescript/test/fixtures/device in this checkout");
        return None;
    };
    let text = std::fs::read_to_string(dir.join("cases.json")).unwrap();
    Some((dir, serde_json::from_str(&text).unwrap()))
}

fn opt(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn source(s: DeviceIdSource) -> &'static str {
    s.as_str()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skyline-device-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn parsers_agree_with_the_shared_captures() {
    let Some((dir, cases)) = cases() else { return };
    for c in cases["windows"].as_array().unwrap() {
        let out = std::fs::read(dir.join(c["file"].as_str().unwrap())).unwrap();
        let ids = parse_windows_output(&out);
        assert_eq!(ids.uuid, opt(&c["uuid"]), "{c}");
        assert_eq!(ids.serial, opt(&c["serial"]), "{c}");
        assert_eq!(ids.machine_guid, opt(&c["machineGuid"]), "{c}");
    }
    for c in cases["windowsRegistry"].as_array().unwrap() {
        let out = std::fs::read(dir.join(c["file"].as_str().unwrap())).unwrap();
        assert_eq!(parse_reg_machine_guid(&out), opt(&c["machineGuid"]), "{c}");
    }
    for c in cases["macos"].as_array().unwrap() {
        let out = std::fs::read(dir.join(c["file"].as_str().unwrap())).unwrap();
        let ids = parse_ioreg(&out);
        assert_eq!(ids.uuid, opt(&c["uuid"]), "{c}");
        assert_eq!(ids.serial, opt(&c["serial"]), "{c}");
    }
}

#[test]
fn rules_agree_with_the_shared_cases() {
    let Some((_, cases)) = cases() else { return };
    for p in cases["placeholders"].as_array().unwrap() {
        assert!(is_placeholder(p.as_str().unwrap()), "{p}");
    }
    for p in cases["notPlaceholders"].as_array().unwrap() {
        assert!(!is_placeholder(p.as_str().unwrap()), "{p}");
    }
    for c in cases["machineIds"].as_array().unwrap() {
        assert_eq!(
            normalize_machine_id(c["raw"].as_str().unwrap()),
            opt(&c["normalized"]),
            "{c}"
        );
    }
    for c in cases["resolve"].as_array().unwrap() {
        let hardware = HardwareIds {
            serial: opt(&c["hardware"]["serial"]),
            uuid: opt(&c["hardware"]["uuid"]),
        };
        let fallback = match c["fallback"]["kind"].as_str() {
            Some("machine-id") => Some(Fallback::MachineId(
                c["fallback"]["id"].as_str().unwrap().into(),
            )),
            Some("random") => Some(Fallback::Random(
                c["fallback"]["id"].as_str().unwrap().into(),
            )),
            _ => None,
        };
        let got = resolve(&hardware, fallback.as_ref());
        let expected = &c["expected"];
        match got {
            None => assert!(expected.is_null(), "{}", c["name"]),
            Some(id) => {
                assert_eq!(
                    id.device_serial_number, expected["deviceSerialNumber"],
                    "{}",
                    c["name"]
                );
                assert_eq!(
                    id.cs_product_uuid, expected["csProductUUID"],
                    "{}",
                    c["name"]
                );
                assert_eq!(
                    source(id.serial_source),
                    expected["source"]["deviceSerialNumber"],
                    "{}",
                    c["name"]
                );
                assert_eq!(
                    source(id.uuid_source),
                    expected["source"]["csProductUUID"],
                    "{}",
                    c["name"]
                );
            }
        }
    }
}

#[test]
fn windows_falls_back_to_wmic_then_the_machine_guid() {
    let Some((dir, _)) = cases() else { return };
    let read = |name: &str| std::fs::read(dir.join(name));
    let run = move |file: &str, args: &[&str]| -> std::io::Result<Vec<u8>> {
        match (file, args.first().copied()) {
            ("powershell.exe", _) => Err(std::io::Error::other("no PowerShell")),
            ("wmic", Some("csproduct")) => read("windows-wmic-table-hyperv.txt"),
            ("wmic", Some("bios")) => read("windows-format-list-virtualbox.txt"),
            ("reg", _) => read("windows-reg-machineguid.txt"),
            _ => Err(std::io::Error::other("unexpected command")),
        }
    };
    let id = device_identity_with(&DeviceOptions {
        data_dir: None,
        platform: Platform::Windows,
        run: &run,
        root: Path::new("/"),
        in_container: None,
    })
    .unwrap();
    assert_eq!(id.cs_product_uuid, "8B5E4C2A-91F3-4D7B-A0C6-2E1F3B4A5C6D");
    assert_eq!(
        id.device_serial_number,
        derived_serial("0f6b3a1e7c2d4e5f9a8b1c2d3e4f5a6b", "MID-")
    );
}

#[test]
fn linux_rules_on_a_fake_root() {
    let root = temp_dir("root");
    let put = |path: &str, text: &str| {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    let no_commands =
        |_: &str, _: &[&str]| -> std::io::Result<Vec<u8>> { Err(std::io::Error::other("none")) };
    fn linux<'a>(
        root: &'a Path,
        run: &'a device::CommandRunner<'a>,
        in_container: Option<bool>,
        data_dir: Option<&'a Path>,
    ) -> DeviceOptions<'a> {
        DeviceOptions {
            data_dir,
            platform: Platform::Linux,
            run,
            root,
            in_container,
        }
    }
    let options =
        |in_container: Option<bool>, data_dir| linux(&root, &no_commands, in_container, data_dir);
    put(
        "sys/class/dmi/id/product_uuid",
        "4c4c4544-0042-3510-8052-b4c04f4b4e32\n",
    );
    put(
        "sys/class/dmi/id/product_serial",
        "To Be Filled By O.E.M.\n",
    );
    put("etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n");
    let id = device_identity_with(&options(Some(false), None)).unwrap();
    assert_eq!(id.cs_product_uuid, "4c4c4544-0042-3510-8052-b4c04f4b4e32");
    assert_eq!(id.device_serial_number, "MID-EA717861A386ADEE8E89255E");

    std::fs::remove_dir_all(root.join("sys")).unwrap();
    let id = device_identity_with(&options(Some(false), None)).unwrap();
    assert_eq!(
        id.cs_product_uuid,
        derived_uuid("3d1219c7c4c5404aaa1f6d2a48adfda4")
    );

    // In a container the machine id comes with the image: a random id instead.
    assert!(matches!(
        device_identity_with(&options(Some(true), None)),
        Err(DeviceError::Unavailable)
    ));
    put(".dockerenv", "");
    let data = root.join("app-data");
    let a = device_identity_with(&options(None, Some(&data))).unwrap();
    let b = device_identity_with(&options(None, Some(&data))).unwrap();
    assert_eq!(a, b);
    assert_eq!(a.serial_source, DeviceIdSource::Random);
    assert!(a.device_serial_number.starts_with("RND-"));
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn the_random_id_is_created_once() {
    let dir = temp_dir("random");
    let ids: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|_| s.spawn(|| persisted_random_id(&dir).unwrap()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(ids.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(ids[0].len(), 32);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(target_os = "linux")]
#[test]
fn this_linux_machine_for_real() {
    let data = temp_dir("real");
    let read = |p: &str| std::fs::read_to_string(p).ok();
    let hardware = HardwareIds {
        uuid: read("/sys/class/dmi/id/product_uuid"),
        serial: read("/sys/class/dmi/id/product_serial"),
    };
    let first = device::device_identity(Some(&data)).unwrap();
    let second = device::device_identity(Some(&data)).unwrap();
    assert_eq!(first, second, "stable");
    let fallback = if usable_value(hardware.uuid.as_deref()).is_some()
        && usable_value(hardware.serial.as_deref()).is_some()
    {
        None
    } else if let Some(id) = (!device::detect_container(Path::new("/")))
        .then(|| read("/etc/machine-id").or_else(|| read("/var/lib/dbus/machine-id")))
        .flatten()
        .and_then(|t| normalize_machine_id(&t))
    {
        Some(Fallback::MachineId(id))
    } else {
        Some(Fallback::Random(persisted_random_id(&data).unwrap()))
    };
    assert_eq!(Some(first), resolve(&hardware, fallback.as_ref()));
    let _ = std::fs::remove_dir_all(&data);
}
