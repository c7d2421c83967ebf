// Device identity: the parsers on captured Windows and macOS output, the
// placeholder and fallback rules (the same cases the Rust client's tests
// read), and this Linux machine for real.
import assert from "node:assert/strict";
import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import * as t from "../dist/internal/testing.js";
import { FIXTURES_DIR } from "./helpers/paths.mjs";
import { removeDir, tempDir } from "./helpers/skyline.mjs";

const DIR = join(FIXTURES_DIR, "device");
const cases = JSON.parse(await readFile(join(DIR, "cases.json"), "utf8"));
const fixture = (name) => readFile(join(DIR, name));

describe("parsers on captured output", () => {
  for (const c of cases.windows) {
    test(`Windows: ${c.file}`, async () => {
      const parsed = sdk.parseWindowsOutput(new Uint8Array(await fixture(c.file)));
      assert.deepEqual(parsed, { uuid: c.uuid, serial: c.serial, machineGuid: c.machineGuid });
    });
  }
  for (const c of cases.windowsRegistry) {
    test(`Windows registry: ${c.file}`, async () => {
      assert.equal(sdk.parseRegMachineGuid(new Uint8Array(await fixture(c.file))), c.machineGuid);
    });
  }
  for (const c of cases.macos) {
    test(`macOS: ${c.file}`, async () => {
      assert.deepEqual(sdk.parseIoreg((await fixture(c.file)).toString("utf8")), { uuid: c.uuid, serial: c.serial });
    });
  }
  test("empty or foreign output gives nothing", () => {
    assert.deepEqual(sdk.parseWindowsOutput(""), { uuid: null, serial: null, machineGuid: null });
    assert.deepEqual(sdk.parseWindowsOutput("UUID=\r\nSerialNumber=\r\n"), { uuid: null, serial: null, machineGuid: null });
    assert.deepEqual(sdk.parseIoreg("ioreg: command not found"), { uuid: null, serial: null });
    assert.equal(sdk.parseRegMachineGuid("ERROR: The system was unable to find the specified registry key or value."), null);
  });
});

describe("rules", () => {
  test("known shared placeholders are not identities", () => {
    for (const p of cases.placeholders) assert.equal(sdk.isPlaceholder(p), true, JSON.stringify(p));
    for (const p of cases.notPlaceholders) assert.equal(sdk.isPlaceholder(p), false, JSON.stringify(p));
    assert.equal(t.usableValue("x".repeat(129) + "y"), null, "longer than 128 characters");
    assert.equal(t.usableValue("ab\u0000cd"), null, "control characters");
    assert.equal(t.usableValue("  C02XK0AAJG5J\n"), "C02XK0AAJG5J");
  });
  test("machine ids are normalized to 32 hex digits", () => {
    for (const c of cases.machineIds) assert.equal(t.normalizeMachineId(c.raw), c.normalized, JSON.stringify(c.raw));
  });
  for (const c of cases.resolve) {
    test(`resolve: ${c.name}`, () => {
      assert.deepEqual(t.resolveDeviceIdentity(c.hardware, c.fallback), c.expected);
    });
  }

  const windowsRunner = (outputs) => async (file, args) => {
    const key = `${file} ${args.join(" ")}`;
    for (const [prefix, name] of outputs) {
      if (key.startsWith(prefix)) {
        if (name instanceof Error) throw name;
        return new Uint8Array(await fixture(name));
      }
    }
    throw new Error(`not found: ${key}`);
  };

  test("Windows: PowerShell first", async () => {
    const id = await sdk.getDeviceIdentity({ platform: "win32", run: windowsRunner([["powershell.exe", "windows-powershell.txt"]]) });
    assert.deepEqual(id, {
      deviceSerialNumber: "5BRDKN2",
      csProductUUID: "4C4C4544-0042-3510-8052-B4C04F4B4E32",
      source: { deviceSerialNumber: "hardware", csProductUUID: "hardware" },
    });
  });

  test("Windows: wmic when PowerShell fails, then MachineGuid from reg for the placeholders", async () => {
    const run = windowsRunner([
      ["powershell.exe", new Error("powershell.exe not found")],
      ["wmic csproduct", "windows-wmic-table-hyperv.txt"],
      ["wmic bios", "windows-format-list-virtualbox.txt"],
      ["reg query", "windows-reg-machineguid.txt"],
    ]);
    const id = await sdk.getDeviceIdentity({ platform: "win32", run });
    assert.equal(id.csProductUUID, "8B5E4C2A-91F3-4D7B-A0C6-2E1F3B4A5C6D");
    assert.equal(id.deviceSerialNumber, t.derivedSerial("0f6b3a1e7c2d4e5f9a8b1c2d3e4f5a6b", "MID-"));
    assert.deepEqual(id.source, { deviceSerialNumber: "machine-id", csProductUUID: "hardware" });
  });

  test("Windows: an unfilled BIOS takes both halves from MachineGuid", async () => {
    const id = await sdk.getDeviceIdentity({ platform: "win32", run: windowsRunner([["powershell.exe", "windows-powershell-oem.txt"], ["wmic", new Error("gone")]]) });
    const guid = "8d2c6c393c5e4a63b6a50e6a9a7d1f20";
    assert.deepEqual(id, {
      deviceSerialNumber: t.derivedSerial(guid, "MID-"),
      csProductUUID: t.derivedUuid(guid),
      source: { deviceSerialNumber: "machine-id", csProductUUID: "machine-id" },
    });
  });

  test("macOS: ioreg; a VM's placeholders fall back to the random id in dataDir", async () => {
    const run = async (file) => new Uint8Array(await fixture(file === "/usr/sbin/ioreg" ? "macos-ioreg.txt" : "none"));
    const id = await sdk.getDeviceIdentity({ platform: "darwin", run });
    assert.equal(id.deviceSerialNumber, "C02XK0AAJG5J");
    assert.equal(id.csProductUUID, "2FA0C7F3-E255-EBC3-547F-2377377A6644");

    const vm = async () => new Uint8Array(await fixture("macos-ioreg-vm.txt"));
    await assert.rejects(sdk.getDeviceIdentity({ platform: "darwin", run: vm }), sdk.DeviceIdentityError);
    const data = await tempDir("skyline-ts-device-");
    const a = await sdk.getDeviceIdentity({ platform: "darwin", run: vm, dataDir: data });
    const b = await sdk.getDeviceIdentity({ platform: "darwin", run: vm, dataDir: data });
    assert.deepEqual(a, b, "stable across calls");
    assert.match(a.deviceSerialNumber, /^RND-[0-9A-F]{24}$/);
    assert.deepEqual(a.source, { deviceSerialNumber: "random", csProductUUID: "random" });
    const stored = (await readFile(join(data, sdk.DEVICE_ID_FILE), "utf8")).trim();
    assert.equal(a.csProductUUID, t.derivedUuid(stored));
    await removeDir(data);
  });

  test("the random id: created once, shared by racing callers, a damaged file replaced", async () => {
    const data = await tempDir("skyline-ts-device-");
    const ids = await Promise.all(Array.from({ length: 8 }, () => t.persistedRandomId(data)));
    assert.equal(new Set(ids).size, 1);
    assert.match(ids[0], /^[0-9a-f]{32}$/);
    await writeFile(join(data, sdk.DEVICE_ID_FILE), "garbage");
    const replaced = await t.persistedRandomId(data);
    assert.notEqual(replaced, ids[0]);
    assert.equal(await t.persistedRandomId(data), replaced);
    await removeDir(data);
  });

  test("Linux rules on a fake root: DMI values, placeholders, machine-id, containers", async () => {
    const root = await tempDir("skyline-ts-root-");
    const put = async (path, text) => {
      await mkdir(join(root, path, ".."), { recursive: true });
      await writeFile(join(root, path), text);
    };
    await put("sys/class/dmi/id/product_uuid", "4c4c4544-0042-3510-8052-b4c04f4b4e32\n");
    await put("sys/class/dmi/id/product_serial", "5BRDKN2\n");
    await put("etc/machine-id", "3d1219c7c4c5404aaa1f6d2a48adfda4\n");
    const hw = await sdk.getDeviceIdentity({ platform: "linux", root, inContainer: false });
    assert.deepEqual(hw, { deviceSerialNumber: "5BRDKN2", csProductUUID: "4c4c4544-0042-3510-8052-b4c04f4b4e32", source: { deviceSerialNumber: "hardware", csProductUUID: "hardware" } });

    await put("sys/class/dmi/id/product_serial", "To Be Filled By O.E.M.\n");
    const oem = await sdk.getDeviceIdentity({ platform: "linux", root, inContainer: false });
    assert.equal(oem.deviceSerialNumber, "MID-EA717861A386ADEE8E89255E");

    await rm(join(root, "sys"), { recursive: true });
    const nonRoot = await sdk.getDeviceIdentity({ platform: "linux", root, inContainer: false });
    assert.deepEqual(nonRoot, cases.resolve.find((c) => c.name.startsWith("nothing readable (non-root")).expected);

    // In a container the machine id comes with the image: not used.
    await assert.rejects(sdk.getDeviceIdentity({ platform: "linux", root, inContainer: true }), sdk.DeviceIdentityError);
    await put(".dockerenv", "");
    const data = join(root, "app-data");
    const inContainer = await sdk.getDeviceIdentity({ platform: "linux", root, dataDir: data });
    assert.deepEqual(inContainer.source, { deviceSerialNumber: "random", csProductUUID: "random" });
    await removeDir(root);
  });
});

describe("this machine", () => {
  test("Linux, for real: the identity follows from what /sys and /etc hold, and is stable", { skip: process.platform !== "linux" && "not Linux" }, async () => {
    const data = await tempDir("skyline-ts-device-");
    const read = async (p) => (await readFile(p, "utf8").catch(() => null));
    const hardware = { uuid: await read("/sys/class/dmi/id/product_uuid"), serial: await read("/sys/class/dmi/id/product_serial") };
    const container = await (await import("../dist/device.js")).detectContainer();
    const machineId = container ? null : t.normalizeMachineId((await read("/etc/machine-id")) ?? (await read("/var/lib/dbus/machine-id")));
    const first = await sdk.getDeviceIdentity({ dataDir: data });
    const second = await sdk.getDeviceIdentity({ dataDir: data });
    assert.deepEqual(first, second);
    const fallback =
      t.usableValue(hardware.uuid) !== null && t.usableValue(hardware.serial) !== null
        ? null
        : machineId !== null
          ? { kind: "machine-id", id: machineId }
          : { kind: "random", id: (await readFile(join(data, sdk.DEVICE_ID_FILE), "utf8")).trim() };
    assert.deepEqual(first, t.resolveDeviceIdentity(hardware, fallback));
    assert.ok(first.deviceSerialNumber.length >= 1 && first.deviceSerialNumber.length <= 128);
    assert.ok(first.csProductUUID.length >= 1 && first.csProductUUID.length <= 128);
    await removeDir(data);
  });
});
