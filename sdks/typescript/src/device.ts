/**
 * Device identity: the `deviceSerialNumber` and `csProductUUID` that
 * `start-session` binds a license to (PROTOCOL.md section 6 step 6).
 *
 * Rules (the Rust client's `device` module applies the same ones, with the
 * same derivations, so both SDKs name a machine alike):
 *
 * 1. Read the hardware values:
 *    - Windows: `Win32_ComputerSystemProduct.UUID` and `Win32_BIOS.SerialNumber`
 *      through `powershell Get-CimInstance`, else `wmic ... /value`;
 *    - macOS: `IOPlatformUUID` and `IOPlatformSerialNumber` from
 *      `ioreg -rd1 -c IOPlatformExpertDevice`;
 *    - Linux: `/sys/class/dmi/id/product_uuid` and `product_serial` (readable
 *      by root only on most distributions).
 * 2. A value is usable when, trimmed, it has 1..128 characters and is not a
 *    known shared placeholder ({@link isPlaceholder}: "To Be Filled By
 *    O.E.M.", "Default string", "System Serial Number", "None", "0", all-zero
 *    or all-F UUIDs, one character repeated, ...). Usable values are sent as
 *    read (trimmed).
 * 3. Each value that is not usable is derived from the OS machine id:
 *    `/etc/machine-id` (or `/var/lib/dbus/machine-id`) on Linux, except inside
 *    a container, where it usually comes with the image and is shared by
 *    every container started from it; `MachineGuid` under
 *    `HKLM\SOFTWARE\Microsoft\Cryptography` on Windows; none on macOS. The
 *    machine id itself is never sent, only SHA-256 derivations of it:
 *    serial `MID-` + 24 hex digits, UUID in the 8-4-4-4-12 form.
 * 4. Without a usable machine id, a random 128-bit id is created once and kept
 *    in `<dataDir>/skyline-device-id` (derived values start with `RND-`). No
 *    `dataDir` then means no identity: {@link DeviceIdentityError}.
 *
 * The same machine gives the same answer every time, as long as the same
 * sources are readable (run the app as the same user: on Linux, root reads the
 * DMI values that other users cannot).
 */

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { access, link, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";

import { fsyncDir } from "./atomic-file.js";
import { SkylineError } from "./errors.js";
import type { DeviceIds } from "./methods/start-session.js";
import { sha256, toHex } from "./protocol/bytes.js";

/** Where a value came from. */
export type DeviceIdSource = "hardware" | "machine-id" | "random";

/** A device identity and where each half came from. */
export interface DeviceIdentity extends DeviceIds {
  source: { deviceSerialNumber: DeviceIdSource; csProductUUID: DeviceIdSource };
}

/** Hardware values as read, before the rules. */
export interface HardwareIds {
  serial: string | null;
  uuid: string | null;
}

/** No identity could be had: no usable hardware value, no machine id, no data directory. */
export class DeviceIdentityError extends SkylineError {}

/** The file, in the app's data directory, holding the random fallback id. */
export const DEVICE_ID_FILE = "skyline-device-id";

const PLACEHOLDERS = new Set(
  [
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
  ].map((s) => s.toLowerCase()),
);

/**
 * Whether `value` (trimmed) is a known placeholder shared by many machines: a
 * listed vendor default, or one character repeated (`0`, `00000000-0000-...`,
 * `FFFFFFFF-FFFF-...`, `xxxxxxxx`), ignoring dashes, spaces, dots and colons.
 */
export function isPlaceholder(value: string): boolean {
  const text = value.trim().replace(/\s+/g, " ").toLowerCase();
  if (PLACEHOLDERS.has(text)) {
    return true;
  }
  const bare = text.replace(/[-\s.:]/g, "");
  return bare.length === 0 || /^(.)\1*$/u.test(bare);
}

/** The trimmed value when it is usable as an identity half (rule 2), else null. */
export function usableValue(value: string | null | undefined): string | null {
  if (value === null || value === undefined) {
    return null;
  }
  const trimmed = value.trim();
  const length = [...trimmed].length;
  if (length < 1 || length > 128 || /[\u0000-\u001f\u007f]/u.test(trimmed) || isPlaceholder(trimmed)) {
    return null;
  }
  return trimmed;
}

/**
 * A machine id as 32 lowercase hex digits (`/etc/machine-id`, or a Windows
 * `MachineGuid` with its braces and dashes removed), or null when it is
 * missing, malformed or a placeholder.
 */
export function normalizeMachineId(raw: string | null | undefined): string | null {
  if (raw === null || raw === undefined) {
    return null;
  }
  const hex = raw.trim().replace(/^\{|\}$/g, "").replace(/-/g, "").toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex) || /^(.)\1*$/.test(hex)) {
    return null;
  }
  return hex;
}

/** Rule 3/4's serial: `prefix` + the first 24 hex digits (upper case) of SHA-256("skyline-device-serial-v1\n" + id). */
export function derivedSerial(id: string, prefix: "MID-" | "RND-"): string {
  return prefix + toHex(sha256(`skyline-device-serial-v1\n${id}`)).slice(0, 24).toUpperCase();
}

/** Rule 3/4's UUID: the first 16 bytes of SHA-256("skyline-device-uuid-v1\n" + id), upper case, 8-4-4-4-12. */
export function derivedUuid(id: string): string {
  const h = toHex(sha256(`skyline-device-uuid-v1\n${id}`)).slice(0, 32).toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/**
 * Applies rules 2 to 4 to values already read. `fallback` is the machine id
 * (or random id) to derive from; null when there is none. Returns null when a
 * value needs a fallback and there is none.
 */
export function resolveDeviceIdentity(
  hardware: HardwareIds,
  fallback: { kind: "machine-id" | "random"; id: string } | null,
): DeviceIdentity | null {
  const serial = usableValue(hardware.serial);
  const uuid = usableValue(hardware.uuid);
  if ((serial === null || uuid === null) && fallback === null) {
    return null;
  }
  const prefix = fallback?.kind === "random" ? "RND-" : "MID-";
  return {
    deviceSerialNumber: serial ?? derivedSerial((fallback as { id: string }).id, prefix),
    csProductUUID: uuid ?? derivedUuid((fallback as { id: string }).id),
    source: {
      deviceSerialNumber: serial !== null ? "hardware" : (fallback as { kind: DeviceIdSource }).kind,
      csProductUUID: uuid !== null ? "hardware" : (fallback as { kind: DeviceIdSource }).kind,
    },
  };
}

/** Decodes command output: UTF-16LE when it has a BOM or NUL bytes (wmic writes that to pipes), else UTF-8. */
export function decodeCommandOutput(output: string | Uint8Array): string {
  if (typeof output === "string") {
    return output;
  }
  const bytes = Buffer.from(output.buffer, output.byteOffset, output.byteLength);
  if ((bytes[0] === 0xff && bytes[1] === 0xfe) || bytes.includes(0)) {
    const text = bytes.toString("utf16le");
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }
  return bytes.toString("utf8");
}

/**
 * Parses the Windows commands' output: `Key=Value` lines (`wmic ... /value`,
 * and the PowerShell script this module runs), `Key : Value` lines
 * (`Format-List`), or a `wmic ... get` table (a header line, then the value).
 * Reads `UUID`, `SerialNumber` and `MachineGuid`.
 */
export function parseWindowsOutput(output: string | Uint8Array): HardwareIds & { machineGuid: string | null } {
  const text = decodeCommandOutput(output);
  const lines = text.split(/\r*\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const found: Record<string, string> = {};
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const pair = /^([A-Za-z]+)\s*(?:=|\s:)\s*(.*)$/.exec(line);
    if (pair) {
      const key = (pair[1] as string).toLowerCase();
      if (!(key in found)) found[key] = (pair[2] as string).trim();
      continue;
    }
    const header = line.toLowerCase();
    const next = lines[i + 1];
    if ((header === "uuid" || header === "serialnumber") && next !== undefined && !next.includes("=")) {
      if (!(header in found)) found[header] = next;
      i++;
    }
  }
  const value = (key: string): string | null => {
    const v = found[key];
    return v === undefined || v === "" ? null : v;
  };
  return { uuid: value("uuid"), serial: value("serialnumber"), machineGuid: value("machineguid") };
}

/** Parses `reg query HKLM\SOFTWARE\Microsoft\Cryptography /v MachineGuid` output. */
export function parseRegMachineGuid(output: string | Uint8Array): string | null {
  const m = /MachineGuid\s+REG_SZ\s+(\S+)/i.exec(decodeCommandOutput(output));
  return m ? (m[1] as string) : null;
}

/** Parses `ioreg -rd1 -c IOPlatformExpertDevice` output: `IOPlatformUUID` and `IOPlatformSerialNumber`. */
export function parseIoreg(output: string | Uint8Array): HardwareIds {
  const text = decodeCommandOutput(output);
  const uuid = /"IOPlatformUUID"\s*=\s*"([^"]*)"/.exec(text);
  const serial = /"IOPlatformSerialNumber"\s*=\s*"([^"]*)"/.exec(text);
  return { uuid: uuid ? (uuid[1] as string) : null, serial: serial ? (serial[1] as string) : null };
}

/** Runs a command and gives its standard output as bytes. */
export type CommandRunner = (file: string, args: string[]) => Promise<Uint8Array>;

const runCommand: CommandRunner = (file, args) =>
  new Promise((resolve, reject) => {
    execFile(file, args, { encoding: "buffer", timeout: 15_000, windowsHide: true, maxBuffer: 1024 * 1024 }, (error, stdout) => {
      if (error) reject(error);
      else resolve(new Uint8Array(stdout));
    });
  });

/** The PowerShell script: one `Key=Value` line per value, the same shape as `wmic /value`. */
export const WINDOWS_POWERSHELL_SCRIPT = [
  "$ErrorActionPreference='SilentlyContinue'",
  "$p=Get-CimInstance -ClassName Win32_ComputerSystemProduct",
  "$b=Get-CimInstance -ClassName Win32_BIOS",
  "$g=(Get-ItemProperty -Path 'HKLM:\\SOFTWARE\\Microsoft\\Cryptography' -Name MachineGuid).MachineGuid",
  "'UUID='+$p.UUID",
  "'SerialNumber='+$b.SerialNumber",
  "'MachineGuid='+$g",
].join("; ");

/** Options of {@link getDeviceIdentity}; all but `dataDir` are for tests. */
export interface DeviceIdentityOptions {
  /** The app's data directory, for the random fallback id (rule 4). */
  dataDir?: string;
  platform?: NodeJS.Platform;
  /** Runs the Windows and macOS commands. */
  run?: CommandRunner;
  /** Prefix of the Linux paths read (`/sys/...`, `/etc/machine-id`); default `/`. */
  root?: string;
  /** Whether this is a container (Linux); default: detected. */
  inContainer?: boolean;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return null;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/** Whether this Linux process runs in a container (Docker, Podman, systemd-nspawn, LXC). */
export async function detectContainer(root = "/"): Promise<boolean> {
  if (process.env.container) {
    return true;
  }
  return (await exists(join(root, ".dockerenv"))) || (await exists(join(root, "run/.containerenv")));
}

interface PlatformReading {
  hardware: HardwareIds;
  machineId: string | null;
}

async function readLinux(options: DeviceIdentityOptions): Promise<PlatformReading> {
  const root = options.root ?? "/";
  const hardware = {
    uuid: await readText(join(root, "sys/class/dmi/id/product_uuid")),
    serial: await readText(join(root, "sys/class/dmi/id/product_serial")),
  };
  const inContainer = options.inContainer ?? (await detectContainer(root));
  let machineId: string | null = null;
  if (!inContainer) {
    machineId =
      normalizeMachineId(await readText(join(root, "etc/machine-id"))) ??
      normalizeMachineId(await readText(join(root, "var/lib/dbus/machine-id")));
  }
  return { hardware, machineId };
}

async function readWindows(run: CommandRunner): Promise<PlatformReading> {
  let parsed: ReturnType<typeof parseWindowsOutput> = { uuid: null, serial: null, machineGuid: null };
  try {
    parsed = parseWindowsOutput(
      await run("powershell.exe", ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-Command", WINDOWS_POWERSHELL_SCRIPT]),
    );
  } catch {
    // No PowerShell (or no CIM): wmic below.
  }
  if (usableValue(parsed.uuid) === null || usableValue(parsed.serial) === null) {
    const legacy = async (args: string[]) => {
      try {
        return parseWindowsOutput(await run("wmic", args));
      } catch {
        return { uuid: null, serial: null, machineGuid: null };
      }
    };
    parsed.uuid ??= (await legacy(["csproduct", "get", "UUID", "/value"])).uuid;
    parsed.serial ??= (await legacy(["bios", "get", "SerialNumber", "/value"])).serial;
  }
  let machineGuid = parsed.machineGuid;
  if (normalizeMachineId(machineGuid) === null) {
    try {
      machineGuid = parseRegMachineGuid(
        await run("reg", ["query", "HKLM\\SOFTWARE\\Microsoft\\Cryptography", "/v", "MachineGuid", "/reg:64"]),
      );
    } catch {
      machineGuid = null;
    }
  }
  return { hardware: { uuid: parsed.uuid, serial: parsed.serial }, machineId: normalizeMachineId(machineGuid) };
}

async function readMac(run: CommandRunner): Promise<PlatformReading> {
  try {
    return { hardware: parseIoreg(await run("/usr/sbin/ioreg", ["-rd1", "-c", "IOPlatformExpertDevice"])), machineId: null };
  } catch {
    return { hardware: { uuid: null, serial: null }, machineId: null };
  }
}

/**
 * The random fallback id of rule 4: read from `<dataDir>/skyline-device-id`,
 * or created there once (32 hex digits; created with a hard link, so two
 * processes racing agree on one).
 */
export async function persistedRandomId(dataDir: string): Promise<string> {
  const path = join(dataDir, DEVICE_ID_FILE);
  const existing = normalizeMachineId(await readText(path));
  if (existing !== null) {
    return existing;
  }
  await mkdir(dataDir, { recursive: true });
  const fresh = randomBytes(16).toString("hex");
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  await writeFile(temp, fresh + "\n", { mode: 0o600, flush: true });
  try {
    await link(temp, path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
    const raced = normalizeMachineId(await readText(path));
    if (raced !== null) {
      await rm(temp, { force: true });
      return raced;
    }
    // A damaged file: replace it.
    await rm(path, { force: true });
    await link(temp, path);
  } finally {
    await rm(temp, { force: true });
  }
  await fsyncDir(dataDir);
  return fresh;
}

/** Reads this machine's identity by the rules above. */
export async function getDeviceIdentity(options: DeviceIdentityOptions = {}): Promise<DeviceIdentity> {
  const platform = options.platform ?? process.platform;
  const run = options.run ?? runCommand;
  const reading =
    platform === "win32" ? await readWindows(run) : platform === "darwin" ? await readMac(run) : await readLinux(options);
  const fromMachine = resolveDeviceIdentity(
    reading.hardware,
    reading.machineId === null ? null : { kind: "machine-id", id: reading.machineId },
  );
  if (fromMachine !== null) {
    return fromMachine;
  }
  if (options.dataDir === undefined) {
    throw new DeviceIdentityError(
      "this machine has no usable hardware serial number, UUID or machine id; pass dataDir to keep a random device id",
    );
  }
  const random = await persistedRandomId(options.dataDir);
  return resolveDeviceIdentity(reading.hardware, { kind: "random", id: random }) as DeviceIdentity;
}
