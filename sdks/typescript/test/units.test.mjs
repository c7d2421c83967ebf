// Units without a server: backoff, codecs, rules, the last-login store and
// the telemetry queue on disk.
import assert from "node:assert/strict";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import * as t from "../dist/internal/testing.js";
import { removeDir, tempDir } from "./helpers/skyline.mjs";

describe("backoff", () => {
  test("exponential, capped, jittered within [d/2, d]", () => {
    const o = { initialDelayMs: 100, maxDelayMs: 1_000, factor: 2, jitter: 0.5 };
    assert.deepEqual([0, 1, 2, 3, 4, 10, 1000].map((n) => sdk.backoffDelay(n, o, () => 1)), [100, 200, 400, 800, 1000, 1000, 1000]);
    assert.deepEqual([0, 1, 2, 3, 4].map((n) => sdk.backoffDelay(n, o, () => 0)), [50, 100, 200, 400, 500]);
    for (let n = 0; n < 50; n++) {
      const d = sdk.backoffDelay(n, o);
      const cap = Math.min(1_000, 100 * 2 ** n);
      assert.ok(d >= cap / 2 && d <= cap, `${n}: ${d}`);
    }
    assert.equal(sdk.backoffDelay(3, { ...o, jitter: 0 }, () => 0.3), 800);
    assert.equal(sdk.DEFAULT_BACKOFF.maxDelayMs, 30_000);
  });
});

describe("codecs", () => {
  test("telemetry events are checked as the server checks them", () => {
    assert.deepEqual(t.validateEvent({ event: "app.navigation", data: { to: "/x" } }), { event: "app.navigation", data: { to: "/x" }, eventId: null });
    assert.deepEqual(t.encodeTelemetryEvent(t.validateEvent({ event: "a", eventId: "id-1:2.3_4" })), { event: "a", data: null, eventId: "id-1:2.3_4" });
    const bad = [
      [{ event: "" }, "event"],
      [{ event: "x".repeat(129) }, "event"],
      [{ event: "with space" }, "event"],
      [{ event: "a", data: [1, 2] }, "data"],
      [{ event: "a", data: "text" }, "data"],
      [{ event: "a", data: { blob: "x".repeat(17 * 1024) } }, "data"],
      [{ event: "a", eventId: "" }, "eventId"],
      [{ event: "a", eventId: "x".repeat(65) }, "eventId"],
      [{ event: "a", eventId: "has/slash" }, "eventId"],
    ];
    for (const [e, field] of bad) {
      assert.throws(() => t.validateEvent(e), (err) => err instanceof sdk.InvalidEventError && err.field === field, JSON.stringify(e).slice(0, 80));
    }
    assert.equal(t.validateEvent({ event: "a/b:c-d_e.f", data: { blob: "x".repeat(16 * 1024 - 20) } }).event, "a/b:c-d_e.f");
  });

  test("responses: nil q, a missing e, and malformed ones", () => {
    assert.deepEqual(t.decodeResponse(t.encode({ q: null, S: "BAD_REQUEST", e: "field `q`" })), { q: null, S: "BAD_REQUEST", e: "field `q`", R: null });
    assert.deepEqual(t.decodeResponse(t.encode({ S: "OK", q: 3, R: [1] })), { q: 3, S: "OK", e: null, R: [1] });
    for (const bad of [t.encode([1, 2]), t.encode({ q: 1 }), t.encode({ q: -1, S: "OK" }), t.encode({ q: "1", S: "OK" }), t.encode({ q: 1, S: "OK", e: 5 }), new Uint8Array([0x81])]) {
      assert.throws(() => t.decodeResponse(bad), sdk.ProtocolViolationError);
    }
    const withTrailing = new Uint8Array([...t.encode({ q: 1, S: "OK" }), 0xc0]);
    assert.throws(() => t.decodeResponse(withTrailing), sdk.ProtocolViolationError);
  });

  test("start-session answers and toggles", () => {
    const base = { isActivatedNow: true, activationDate: "2024-12-25", licensePlan: "p", expiryDate: null, sessionToken: "71ee0979-ea57b170" };
    assert.deepEqual(t.decodeStartSessionAnswer(base), { ...base, graceUntil: null });
    assert.throws(() => t.decodeStartSessionAnswer({ ...base, sessionToken: "" }), sdk.ProtocolViolationError);
    assert.throws(() => t.decodeStartSessionAnswer({ ...base, isActivatedNow: "yes" }), sdk.ProtocolViolationError);
    assert.throws(() => t.decodeStartSessionAnswer({ ...base, graceUntil: 7 }), sdk.ProtocolViolationError);
    assert.deepEqual(t.decodeFeatureToggles(null), {});
    assert.throws(() => t.decodeFeatureToggles({ a: [1] }), sdk.ProtocolViolationError);
  });

  test("check-update answers", () => {
    const offer = { version: "7.1.0", channel: "stable", platform: "", mandatory: false, rollback: true, size: 10, sha256: "a".repeat(64), signature: new Uint8Array(64), url: "/download/x/7.1.0", notes: null };
    const decoded = t.decodeCheckUpdate(offer);
    assert.equal(decoded.platform, null);
    assert.equal(decoded.rollback, true);
    assert.equal(decoded.publishedAt, null);
    assert.equal(t.decodeCheckUpdate(null), null);
    for (const broken of [{ size: -1 }, { size: 1.5 }, { signature: new Uint8Array(63) }, { url: 5 }, { mandatory: "no" }]) {
      assert.throws(() => t.decodeCheckUpdate({ ...offer, ...broken }), sdk.ProtocolViolationError, JSON.stringify(broken));
    }
  });

  test("versions with pre-releases, dates", () => {
    assert.equal(sdk.compareVersions("7.2.0-beta.1", "7.2.0"), -1);
    assert.equal(sdk.compareVersions("7.2.0-beta.2", "7.2.0-beta.10"), -1);
    assert.equal(sdk.compareVersions("7.2.0-beta.1", "7.1.9"), 1);
    assert.equal(sdk.compareVersions("7.2.0-alpha", "7.2.0-beta"), -1);
    assert.equal(sdk.compareVersions("18446744073709551617.0", "18446744073709551616.9"), 1);
    assert.throws(() => sdk.compareVersions("7.x", "7.0"), TypeError);
    assert.throws(() => sdk.compareVersions("", "7.0"), TypeError);
    assert.equal(t.isIsoDate("2024-02-29"), true);
    assert.equal(t.isIsoDate("2025-02-29"), false);
    assert.equal(t.utcDay(1764547200), "2025-12-01");
    assert.throws(() => sdk.addCalendarMonths("2025-13-01", 1), TypeError);
  });
});

describe("last-login store", () => {
  const key = { productId: "telepower", licenseKey: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8", deviceSerialNumber: "S", csProductUUID: "U" };

  test("the file store: per product, key and device, written atomically, no key in the file", async () => {
    const dir = await tempDir("skyline-ts-ll-");
    const path = join(dir, "nested", "last-login.json");
    const store = new sdk.FileLastLoginStore(path);
    assert.equal(await store.get(key), null);
    await store.set(key, 1_765_529_203);
    assert.equal(await store.get(key), 1_765_529_203);
    assert.equal(await store.get({ ...key, licenseKey: " wdgqx wc2y3 4r966 tk3h3 hxrb8 " }), 1_765_529_203, "the key is normalized");
    assert.equal(await store.get({ ...key, deviceSerialNumber: "other" }), null);
    assert.equal(await store.get({ ...key, productId: "other" }), null);
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set({ ...key, csProductUUID: `U${i}` }, i)));
    for (let i = 0; i < 20; i++) assert.equal(await new sdk.FileLastLoginStore(path).get({ ...key, csProductUUID: `U${i}` }), i);
    const text = await readFile(path, "utf8");
    assert.doesNotMatch(text, /WDGQX|HXRB8/);
    assert.equal(JSON.parse(text).logins[t.lastLoginId(key)], 1_765_529_203);
    assert.deepEqual(await readdir(join(dir, "nested")), ["last-login.json"], "no temp file left");
    await removeDir(dir);
  });

  test("a damaged file is an error, never a silent null (that would lock the device)", async () => {
    const dir = await tempDir("skyline-ts-ll-");
    const path = join(dir, "last-login.json");
    for (const content of ["{not json", '{"version":2,"logins":{}}', '{"version":1,"logins":{"a":"x"}}']) {
      await writeFile(path, content);
      await assert.rejects(new sdk.FileLastLoginStore(path).get(key), sdk.LastLoginStoreError, content);
    }
    await removeDir(dir);
  });

  test("atomic writes replace the whole file", async () => {
    const dir = await tempDir("skyline-ts-ll-");
    const path = join(dir, "f");
    await t.writeFileAtomic(path, "one");
    await t.writeFileAtomic(path, "two");
    assert.equal(await readFile(path, "utf8"), "two");
    assert.deepEqual(await readdir(dir), ["f"]);
    await removeDir(dir);
  });
});

describe("telemetry queue on disk", () => {
  test("events survive a reopen, in order, with their ids; temp files of a crash are removed", async () => {
    const dir = await tempDir("skyline-ts-queue-");
    const queue = await sdk.TelemetryQueue.open(dir);
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await queue.enqueue({ event: "e", data: { i } })).eventId);
    assert.equal((await queue.enqueue({ event: "e", eventId: "mine" })).eventId, "mine");
    await writeFile(join(dir, ".tmp-0000000000000099.ev-dead"), "half an event");
    await writeFile(join(dir, "unrelated.txt"), "left alone");
    const again = await sdk.TelemetryQueue.open(dir);
    assert.equal(again.size, 6);
    const events = [];
    for (const entry of again.entries()) events.push(await again.read(entry));
    assert.deepEqual(events.map((e) => e.eventId), [...ids, "mine"]);
    assert.deepEqual(events.slice(0, 5).map((e) => e.data.i), [0, 1, 2, 3, 4]);
    assert.ok(!(await readdir(dir)).some((n) => n.startsWith(".tmp-")));
    assert.ok((await readdir(dir)).includes("unrelated.txt"));
    // New events go after the old ones.
    await again.enqueue({ event: "later" });
    assert.equal((await again.read(again.entries().at(-1))).event, "later");
    await again.remove(again.entries()[0]);
    assert.equal(again.stats().sent, 1);
    assert.equal((await sdk.TelemetryQueue.open(dir)).size, 6);
    await removeDir(dir);
  });

  test("bounds: the oldest events are dropped and counted; an event too big for the queue is refused", async () => {
    const dir = await tempDir("skyline-ts-queue-");
    const queue = await sdk.TelemetryQueue.open(dir, { maxEvents: 5 });
    const drops = [];
    queue.on("drop", (reason, n) => drops.push([reason, n]));
    for (let i = 0; i < 8; i++) await queue.enqueue({ event: "e", data: { i } });
    assert.equal(queue.size, 5);
    assert.equal(queue.stats().droppedOverflow, 3);
    assert.deepEqual(drops, [["overflow", 1], ["overflow", 1], ["overflow", 1]]);
    const kept = [];
    for (const entry of queue.entries()) kept.push((await queue.read(entry)).data.i);
    assert.deepEqual(kept, [3, 4, 5, 6, 7]);
    assert.equal((await readdir(dir)).length, 5);

    const small = await sdk.TelemetryQueue.open(await tempDir("skyline-ts-queue-"), { maxBytes: 400 });
    for (let i = 0; i < 10; i++) await small.enqueue({ event: "e", data: { i, pad: "x".repeat(50) } });
    assert.ok(small.bytes <= 400);
    assert.ok(small.stats().droppedOverflow > 0);
    await assert.rejects(small.enqueue({ event: "e", data: { pad: "x".repeat(500) } }), RangeError);
    await assert.rejects(small.enqueue({ event: "bad name" }), sdk.InvalidEventError);
    // Reopening with smaller bounds applies them.
    const shrunk = await sdk.TelemetryQueue.open(dir, { maxEvents: 2 });
    assert.equal(shrunk.size, 2);
    assert.equal(shrunk.stats().droppedOverflow, 3);
    await removeDir(dir);
    await removeDir(small.dir);
  });

  test("a corrupt event file is dropped and counted", async () => {
    const dir = await tempDir("skyline-ts-queue-");
    const queue = await sdk.TelemetryQueue.open(dir);
    await queue.enqueue({ event: "fine" });
    await queue.enqueue({ event: "broken" });
    const [, broken] = queue.entries();
    await writeFile(broken.file, "garbage");
    assert.equal(await queue.read(broken), null);
    assert.equal(queue.stats().droppedCorrupt, 1);
    assert.equal(queue.size, 1);
    assert.equal(await queue.waitEmpty(10), false);
    const empty = queue.waitEmpty(60_000);
    await queue.remove(queue.entries()[0]);
    assert.equal(await empty, true);
    await removeDir(dir);
  });
});
