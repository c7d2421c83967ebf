// The client against a scripted server (test/helpers/fake-server.mjs): the
// q/t/s bookkeeping, pipelining, every kind of failure on the wire, statuses
// the real server does not send yet (NO_FREE_SEAT, graceUntil, check-update),
// reconnect with backoff, and the queue's drop policy.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { inspect } from "node:util";
import { describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import * as t from "../dist/internal/testing.js";
import { FAKE_SEED, okHandler, startFakeServer } from "./helpers/fake-server.mjs";
import { removeDir, tempDir } from "./helpers/skyline.mjs";

const DEVICE = { deviceSerialNumber: "C02XK0AAJG5J", csProductUUID: "20240113-E0C2-646E-FDB1-E0C2646EFDB5" };
const REQUEST = { productId: "telepower", productVersion: "7.0.3", licenseKey: "WDGQX-WC2Y3-4R966-TK3H3-HXRB8" };

function clientOf(fake, extra = {}) {
  return new sdk.Client(fake.url, {
    identityPublicKey: fake.identityPublicKey,
    device: DEVICE,
    lastLoginStore: new sdk.MemoryLastLoginStore(),
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
    ...extra,
  });
}

async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail("expected a refusal");
}

function waitFor(predicate, what) {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const check = () => {
      if (predicate()) resolve();
      else if (Date.now() - started > 60_000) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(check, 5);
    };
    check();
  });
}

describe("requests on the wire", () => {
  test("q starts at 0 with start-session (s nil), then counts up with the token; t comes from the clock", async () => {
    const fake = await startFakeServer({ handler: okHandler({ "get-feature-toggles": { a: 1 } }) });
    let now = 1_765_529_203;
    const client = clientOf(fake, { clock: () => now++ });
    const started = await client.startSession({ ...REQUEST, language: "russian" });
    assert.equal(started.lastLoginToPersist, 1_765_529_203);
    await client.getFeatureToggles();
    await client.sendTelemetryEvent({ event: "app.navigation", data: { to: "/account-manager" }, eventId: "e-1" });
    const [start, toggles, event] = fake.log.requests;
    assert.deepEqual(start, {
      q: 0,
      t: 1_765_529_203,
      r: "start-session",
      s: null,
      d: { productId: "telepower", productVersion: "7.0.3", language: "russian", lastLoginReportedByClient: null, ...DEVICE, licenseKey: REQUEST.licenseKey },
    });
    assert.deepEqual(Object.keys(start.d), ["productId", "productVersion", "language", "lastLoginReportedByClient", "deviceSerialNumber", "csProductUUID", "licenseKey"]);
    assert.deepEqual(toggles, { q: 1, t: 1_765_529_204, r: "get-feature-toggles", s: "tok-0", d: null });
    assert.deepEqual(event, { q: 2, t: 1_765_529_205, r: "send-telemetry-event", s: "tok-0", d: { event: "app.navigation", data: { to: "/account-manager" }, eventId: "e-1" } });

    // The next start-session, on a new connection, carries the stored last login and q 0 again.
    await client.startSession(REQUEST);
    const again = fake.log.requests[3];
    assert.equal(again.q, 0);
    assert.equal(again.d.lastLoginReportedByClient, 1_765_529_203);
    assert.equal(fake.log.connections.length, 2);
    await client.close();
    await fake.close();
  });

  test("pipelining: responses resolve their own requests, in order", async () => {
    const fake = await startFakeServer({
      handler: async (request) => {
        if (request.r === "start-session") return okHandler()(request);
        await new Promise((r) => setTimeout(r, Math.random() * 3));
        return { S: "OK", R: { echo: request.d.n } };
      },
    });
    const client = clientOf(fake);
    await client.startSession(REQUEST);
    const order = [];
    const results = await Promise.all(Array.from({ length: 100 }, (_, n) => client.call("echo", { n }).then((r) => (order.push(n), r))));
    assert.deepEqual(results.map((r) => r.echo), Array.from({ length: 100 }, (_, n) => n));
    assert.deepEqual(order, Array.from({ length: 100 }, (_, n) => n));
    assert.deepEqual(fake.log.connections[0].requests.map((r) => r.q), Array.from({ length: 101 }, (_, q) => q));
    await client.close();
    await fake.close();
  });

  test("a response with another request's q is a protocol violation; repeatable calls go on over a new connection", async () => {
    let lie = true;
    const fake = await startFakeServer({
      handler: (request) => {
        if (request.r === "start-session") return okHandler()(request);
        if (lie) {
          lie = false;
          return { q: request.q + 5, S: "OK", R: {} };
        }
        return { S: "OK", R: { fine: true } };
      },
    });
    const connection = await sdk.Connection.open(fake.url, { identityPublicKey: fake.identityPublicKey });
    await connection.request("start-session", {});
    const e = await refusal(connection.request("get-feature-toggles", null));
    assert.ok(e instanceof sdk.ProtocolViolationError);
    assert.match(e.message, /response q 6 to request q 1/);
    assert.equal(connection.isUsable, false);

    lie = true;
    const client = clientOf(fake);
    await client.startSession(REQUEST);
    assert.deepEqual(await client.getFeatureToggles(), { fine: true });
    await client.close();
    await fake.close();
  });

  test("a method before start-session, or start-session twice on one connection, is refused locally", async () => {
    const fake = await startFakeServer({ handler: okHandler() });
    const connection = await sdk.Connection.open(fake.url, { identityPublicKey: fake.identityPublicKey });
    assert.ok((await refusal(connection.request("get-feature-toggles", null))) instanceof sdk.InvalidStateError);
    await connection.request("start-session", {});
    assert.ok((await refusal(connection.request("start-session", {}))) instanceof sdk.InvalidStateError);
    await connection.close();
    const client = clientOf(fake);
    assert.ok((await refusal(client.getFeatureToggles())) instanceof sdk.InvalidStateError);
    assert.ok((await refusal(client.call("start-session", {}))) instanceof sdk.InvalidStateError);
    await client.close();
    await fake.close();
  });
});

describe("statuses", () => {
  test("every status maps to its class with status and e; an unknown status is a plain RpcError", () => {
    const classes = {
      BAD_HANDSHAKE: sdk.BadHandshakeError,
      BAD_REQUEST: sdk.BadRequestError,
      SESSION_REQUIRED: sdk.SessionRequiredError,
      INVALID_SESSION: sdk.InvalidSessionError,
      UNKNOWN_METHOD: sdk.UnknownMethodError,
      UNKNOWN_PRODUCT: sdk.UnknownProductError,
      OUTDATED_VERSION: sdk.OutdatedVersionError,
      INVALID_LICENSE_KEY: sdk.InvalidLicenseKeyError,
      LICENSE_REVOKED: sdk.LicenseRevokedError,
      LICENSE_EXPIRED: sdk.LicenseExpiredError,
      KEY_BOUND_TO_ANOTHER_DEVICE: sdk.KeyBoundToAnotherDeviceError,
      NO_FREE_SEAT: sdk.NoFreeSeatError,
      INTEGRITY_BREACH: sdk.IntegrityBreachError,
      RATE_LIMITED: sdk.RateLimitedError,
      INTERNAL_ERROR: sdk.InternalServerError,
    };
    assert.deepEqual(Object.keys(classes).sort(), Object.values(sdk.Status).filter((s) => s !== "OK").sort());
    for (const [status, Class] of Object.entries(classes)) {
      const e = sdk.rpcErrorFor(status, "message", "get-feature-toggles");
      assert.ok(e instanceof Class && e instanceof sdk.RpcError && e instanceof sdk.SkylineError, status);
      assert.equal(e.status, status);
      assert.equal(e.e, "message");
      assert.equal(e.name, Class.name);
      assert.equal(e.message, `${status}: message`);
    }
    const unknown = sdk.rpcErrorFor("SEAT_ON_FIRE", "Пожар", "start-session");
    assert.equal(unknown.constructor, sdk.RpcError);
    assert.equal(unknown.status, "SEAT_ON_FIRE");
    assert.equal(unknown.e, "Пожар");
    assert.equal(sdk.isPermanentRefusal(unknown), false);
    assert.equal(sdk.rpcErrorFor("INTEGRITY_BREACH", "Нарушена целостность программного обеспечения. Пожалуйста, обратитесь в техническую поддержку с кодом: LL").code, "LL");
    assert.equal(sdk.rpcErrorFor("INTEGRITY_BREACH", "Integrity breach, code: SQ.").code, "SQ");
    assert.equal(sdk.rpcErrorFor("INTEGRITY_BREACH", null).code, null);
    assert.equal(sdk.rpcErrorFor("UNKNOWN_METHOD", "x", "m").closesConnection, false);
    assert.equal(sdk.rpcErrorFor("UNKNOWN_METHOD", "x", "start-session").closesConnection, true);
    assert.equal(sdk.rpcErrorFor("INVALID_SESSION", "x", "m").closesConnection, true);
    for (const s of ["LICENSE_REVOKED", "LICENSE_EXPIRED", "INVALID_LICENSE_KEY", "KEY_BOUND_TO_ANOTHER_DEVICE", "INTEGRITY_BREACH", "OUTDATED_VERSION", "UNKNOWN_PRODUCT"]) {
      assert.equal(sdk.isPermanentRefusal(sdk.rpcErrorFor(s, null, "start-session")), true, s);
    }
    for (const s of ["RATE_LIMITED", "INTERNAL_ERROR", "NO_FREE_SEAT"]) {
      assert.equal(sdk.isPermanentRefusal(sdk.rpcErrorFor(s, null, "start-session")), false, s);
    }
    assert.equal(sdk.isPermanentRefusal(new sdk.ServerIdentityMismatchError()), true);
    assert.equal(sdk.isPermanentRefusal(new sdk.ConnectionClosedError(1006, "")), false);
  });

  test("1.2: NO_FREE_SEAT is surfaced and retried later, graceUntil is exposed", async () => {
    let seats = 0;
    const fake = await startFakeServer({
      handler: (request) => {
        if (request.r !== "start-session") return { S: "OK", R: { ok: true } };
        if (seats++ === 0) return { S: "NO_FREE_SEAT", e: "All 5 seats of this license are in use. Close the app on another device or try again later.", close: 1000 };
        return {
          S: "OK",
          R: { isActivatedNow: false, activationDate: "2025-01-01", licensePlan: "P", expiryDate: "2025-02-01", graceUntil: "2025-02-08", sessionToken: "t", futureKey: 1 },
        };
      },
    });
    const client = clientOf(fake);
    const e = await refusal(client.startSession(REQUEST));
    assert.ok(e instanceof sdk.NoFreeSeatError);
    assert.match(e.e, /All 5 seats/);
    assert.equal(client.refusal, null, "a seat may free up: not permanent");
    // A call retries start-session by itself.
    assert.deepEqual(await client.getFeatureToggles(), { ok: true });
    const again = await client.startSession(REQUEST);
    assert.equal(again.graceUntil, "2025-02-08");
    assert.equal(again.expiryDate, "2025-02-01");
    assert.equal("sessionToken" in again, false, "the token stays inside the client");
    await client.close();
    await fake.close();
  });

  test("a permanent refusal on reconnect stops reconnecting; startSession clears it", async () => {
    let refuse = false;
    const fake = await startFakeServer({
      handler: (request) => {
        if (request.r === "start-session" && refuse) return { S: "LICENSE_EXPIRED", e: "expired" };
        if (request.r === "start-session") return okHandler()(request);
        return { S: "OK", R: {} };
      },
    });
    const client = clientOf(fake);
    await client.startSession(REQUEST);
    refuse = true;
    const lost = new Promise((r) => client.once("disconnected", r));
    fake.log.connections[0].ws.close(1001);
    await lost;
    const e = await refusal(client.getFeatureToggles());
    assert.ok(e instanceof sdk.LicenseExpiredError);
    const before = fake.log.connections.length;
    assert.equal(await refusal(client.getFeatureToggles()), e);
    assert.equal(fake.log.connections.length, before, "no new connection after a permanent refusal");
    refuse = false;
    await client.startSession(REQUEST);
    assert.deepEqual(await client.getFeatureToggles(), {});
    await client.close();
    await fake.close();
  });
});

describe("check-update (PROTOCOL 1.1) against a server that has it", () => {
  test("the request carries channel and platform; the answer becomes an offer for downloadUpdate", async () => {
    const manifest = (await import("./helpers/paths.mjs")).vectors("formats.json").releaseManifests[0];
    const offer = {
      version: manifest.version,
      channel: manifest.channel,
      platform: manifest.platform,
      mandatory: true,
      rollback: false,
      size: manifest.size,
      sha256: manifest.sha256,
      signature: Buffer.from(manifest.signatureHex, "hex"),
      url: `/download/telepower/${manifest.version}?platform=${manifest.platform}`,
      notes: "What is new",
      publishedAt: "2026-12-01",
    };
    let answer = offer;
    const fake = await startFakeServer({
      handler: (request) => (request.r === "check-update" ? { S: "OK", R: answer } : okHandler()(request)),
    });
    const client = clientOf(fake);
    await client.startSession(REQUEST);
    const result = await client.checkUpdate({ channel: "beta", platform: "windows-x64" });
    assert.deepEqual(fake.log.requests.at(-1).d, { channel: "beta", platform: "windows-x64" });
    assert.deepEqual(result, { ...offer, signature: new Uint8Array(offer.signature), productId: "telepower", installedVersion: "7.0.3" });
    assert.ok(sdk.verifyReleaseSignature(result, result.signature, (await import("./helpers/paths.mjs")).vectors("formats.json").identityPublic));

    await client.checkUpdate();
    assert.deepEqual(fake.log.requests.at(-1).d, {});
    answer = null;
    assert.equal(await client.checkUpdate({ channel: "stable" }), null);
    answer = { ...offer, platform: null };
    assert.equal((await client.checkUpdate()).platform, null);
    answer = { ...offer, sha256: "XYZ" };
    assert.ok((await refusal(client.checkUpdate())) instanceof sdk.ProtocolViolationError);
    assert.throws(() => t.encodeCheckUpdate({ channel: "nightly" }), TypeError);
    assert.throws(() => t.encodeCheckUpdate({ platform: "Windows X64" }), TypeError);
    await client.close();
    await fake.close();
  });
});

describe("failures on the wire", () => {
  test("a server with another identity: ServerIdentityMismatchError, nothing sent after the hello, no close frame", async () => {
    const impostor = await startFakeServer({ seed: "11".repeat(32), handler: okHandler() });
    const pinned = t.toHex(t.ed25519PublicRaw(t.ed25519PrivateKey(Buffer.from(FAKE_SEED, "hex"))));
    assert.notEqual(pinned, impostor.identityPublicKey);
    const e = await refusal(sdk.connect(impostor.url, { identityPublicKey: pinned }));
    assert.ok(e instanceof sdk.ServerIdentityMismatchError);
    const [connection] = impostor.log.connections;
    await waitFor(() => connection.closeCode !== null, "the impostor's socket to close");
    assert.equal(connection.messages, 1, "only the client-hello");
    assert.equal(connection.closeCode, 1006, "dropped without a close frame");
    await impostor.close();
  });

  test("HTTP 429 at the upgrade is UpgradeRefusedError; reconnect backs off and gets through", async () => {
    const fake = await startFakeServer({ handler: okHandler({ "get-feature-toggles": { x: 1 } }), refuse: (n) => (n === 0 ? 429 : n >= 2 && n <= 4 ? 503 : null) });
    assert.equal((await refusal(sdk.connect(fake.url, { identityPublicKey: fake.identityPublicKey }))).httpStatus, 429);
    const client = clientOf(fake, { sessionWaitMs: 60_000 });
    await client.startSession(REQUEST);
    fake.log.connections[0].ws.close(1001);
    await new Promise((r) => client.once("disconnected", r));
    const attempts = [];
    client.on("reconnecting", (info) => attempts.push(info));
    assert.deepEqual(await client.getFeatureToggles(), { x: 1 });
    assert.deepEqual(attempts.map((a) => a.attempt), [1, 2, 3]);
    assert.ok(attempts.every((a) => a.error instanceof sdk.UpgradeRefusedError && a.error.httpStatus === 503));
    assert.ok(attempts.every((a) => a.delayMs <= 50));
    await client.close();
    await fake.close();
  });

  test("a message over the size limit is MessageTooBigError", async () => {
    const fake = await startFakeServer({ handler: (r) => (r.r === "start-session" ? okHandler()(r) : { S: "OK", R: { big: "x".repeat(70_000) } }) });
    const connection = await sdk.Connection.open(fake.url, { identityPublicKey: fake.identityPublicKey });
    await connection.request("start-session", {});
    assert.ok((await refusal(connection.request("get-feature-toggles", null))) instanceof sdk.MessageTooBigError);
    const roomy = await sdk.Connection.open(fake.url, { identityPublicKey: fake.identityPublicKey, maxMessageBytes: 128 * 1024 });
    await roomy.request("start-session", {});
    assert.equal((await roomy.request("get-feature-toggles", null)).result.big.length, 70_000);
    await roomy.close();
    await connection.close();
    await fake.close();
  });

  test("no answer in time is RequestTimeoutError, and the connection is dropped", async () => {
    const fake = await startFakeServer({ handler: (r) => (r.r === "start-session" ? okHandler()(r) : null) });
    const connection = await sdk.Connection.open(fake.url, { identityPublicKey: fake.identityPublicKey, requestTimeoutMs: 200 });
    await connection.request("start-session", {});
    const [a, b] = await Promise.all([refusal(connection.request("get-feature-toggles", null)), refusal(connection.request("x", null))]);
    assert.ok(a instanceof sdk.RequestTimeoutError && b instanceof sdk.RequestTimeoutError);
    assert.equal(connection.isUsable, false);
    await connection.close();
    await fake.close();
  });

  test("a silent server is ConnectTimeoutError (connect, then handshake)", async () => {
    const sockets = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise((r) => silent.listen(0, "127.0.0.1", r));
    const e = await refusal(sdk.connect(`ws://127.0.0.1:${silent.address().port}/ws`, { identityPublicKey: FAKE_SEED, connectTimeoutMs: 200 }));
    assert.ok(e instanceof sdk.ConnectTimeoutError);
    assert.equal(e.phase, "connect");
    // A server that upgrades and then says nothing: the handshake timeout.
    const mute = await startFakeServer({ handler: okHandler() });
    const wss = new (await import("ws")).WebSocketServer({ port: 0, host: "127.0.0.1" });
    await new Promise((r) => wss.once("listening", r));
    const h = await refusal(sdk.connect(`ws://127.0.0.1:${wss.address().port}/ws`, { identityPublicKey: mute.identityPublicKey, handshakeTimeoutMs: 200 }));
    assert.ok(h instanceof sdk.ConnectTimeoutError && h.phase === "handshake", String(h));
    for (const c of wss.clients) c.terminate();
    await new Promise((r) => wss.close(r));
    await mute.close();
    for (const socket of sockets) socket.destroy();
    await new Promise((r) => silent.close(r));
  });

  test("a text frame, or a frame that fails authentication, is a protocol violation", async () => {
    for (const raw of [null, new Uint8Array(40)]) {
      const fake = await startFakeServer({ handler: (r) => (r.r === "start-session" ? okHandler()(r) : raw === null ? { raw: "text" } : { raw }) });
      const connection = await sdk.Connection.open(fake.url, { identityPublicKey: fake.identityPublicKey });
      await connection.request("start-session", {});
      const e = await refusal(connection.request("get-feature-toggles", null));
      assert.ok(e instanceof sdk.ProtocolViolationError, String(e));
      await connection.close();
      await fake.close();
    }
  });

  test("URLs other than ws:// and wss:// are refused", async () => {
    await assert.rejects(sdk.connect("http://127.0.0.1:1/ws", { identityPublicKey: FAKE_SEED }), TypeError);
    await assert.rejects(sdk.connect("ws://127.0.0.1:1/ws", { identityPublicKey: "abcd" }), TypeError);
  });

  test("close rejects what is in flight; a closed client refuses calls; nothing secret is printed", async () => {
    const fake = await startFakeServer({ handler: (r) => (r.r === "start-session" ? okHandler()(r) : null) });
    const client = clientOf(fake);
    await client.startSession(REQUEST);
    const pending = refusal(client.getFeatureToggles());
    await waitFor(() => fake.log.requests.length === 2, "the request to arrive");
    assert.doesNotMatch(inspect(client), /tok-0/);
    await client.close();
    assert.ok((await pending) instanceof sdk.ClientClosedError);
    assert.ok((await refusal(client.getFeatureToggles())) instanceof sdk.ClientClosedError);
    const cipher = new t.FrameCipher(new Uint8Array(32).fill(7));
    assert.doesNotMatch(inspect(cipher), /7/);
    await fake.close();
  });
});

describe("queued telemetry", () => {
  test("events are sent in order; BAD_REQUEST drops an event (counted), RATE_LIMITED is retried", async () => {
    const dir = await tempDir("skyline-ts-q-");
    let limited = 0;
    const fake = await startFakeServer({
      handler: (request) => {
        if (request.r === "start-session") return okHandler()(request);
        if (request.d.data?.bad) return { S: "BAD_REQUEST", e: "field `data`: too big" };
        if (request.d.data?.i === 5 && limited++ < 2) return { S: "RATE_LIMITED", e: "slow down" };
        return { S: "OK" };
      },
    });
    const client = clientOf(fake, { telemetryQueue: { dir, inFlight: 4 } });
    const drops = [];
    client.on("drop", (reason, count) => drops.push([reason, count]));
    const receipts = [];
    for (let i = 0; i < 20; i++) receipts.push(await client.sendTelemetryEvent({ event: "q.test", data: { i, bad: i % 7 === 3 } }));
    assert.ok(receipts.every((r) => r.queued));
    assert.equal((await client.queueStats()).events, 20, "nothing is sent before a session");
    await client.startSession(REQUEST);
    assert.deepEqual(await client.flush({ timeoutMs: 60_000 }), { empty: true, remaining: 0 });
    const stats = await client.queueStats();
    assert.equal(stats.sent, 17);
    assert.equal(stats.droppedRejected, 3);
    assert.deepEqual(drops, [["rejected", 1], ["rejected", 1], ["rejected", 1]]);
    const stored = new Map();
    for (const r of fake.log.requests.filter((r) => r.r === "send-telemetry-event")) stored.set(r.d.data.i, r.d.eventId);
    assert.deepEqual([...stored.keys()].sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i));
    assert.deepEqual(receipts.map((r) => r.eventId), Array.from({ length: 20 }, (_, i) => stored.get(i)), "ids fixed at enqueue time");
    const firstSends = [];
    for (const r of fake.log.requests) if (r.r === "send-telemetry-event" && !firstSends.includes(r.d.data.i)) firstSends.push(r.d.data.i);
    assert.deepEqual(firstSends, Array.from({ length: 20 }, (_, i) => i), "queue order");
    assert.ok(limited >= 2);
    await client.close();
    await fake.close();
    await removeDir(dir);
  });

  test("flush gives up after its timeout while offline, leaving the events on disk", async () => {
    const dir = await tempDir("skyline-ts-q-");
    const client = new sdk.Client("ws://127.0.0.1:1/ws", { identityPublicKey: FAKE_SEED, device: DEVICE, telemetryQueue: { dir }, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    await client.sendTelemetryEvent({ event: "offline" });
    await refusal(client.startSession(REQUEST));
    assert.deepEqual(await client.flush({ timeoutMs: 100 }), { empty: false, remaining: 1 });
    await client.close();
    const reopened = await sdk.TelemetryQueue.open(dir);
    assert.equal(reopened.size, 1);
    await removeDir(dir);
  });
});
