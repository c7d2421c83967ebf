// Interop with the real server: `skyline serve` on 127.0.0.1 (a port the OS
// chooses), products, plans and keys made with the operator CLI, and the SDK
// talking to it as an app would. No timing assertions: every wait is for an
// event, under a generous timeout.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes, createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import { existsSync, readFileSync } from "node:fs";

import { PACKAGE_DIR, REPO_DIR } from "./helpers/paths.mjs";
import { SkylineServer, catalogue, exportTelemetry, newKey, ok, removeDir, tempDir } from "./helpers/skyline.mjs";

const TIMEOUT = { timeout: 180_000 };
let deviceCounter = 0;

/** A device no other test uses. */
function device() {
  deviceCounter++;
  return { deviceSerialNumber: `TS-SERIAL-${process.pid}-${deviceCounter}`, csProductUUID: `TS-UUID-${process.pid}-${deviceCounter}` };
}

function options(server, extra = {}) {
  return { identityPublicKey: server.identityPublicKey, lastLoginStore: new sdk.MemoryLastLoginStore(), connectTimeoutMs: 60_000, requestTimeoutMs: 60_000, ...extra };
}

async function session(server, key, extra = {}, request = {}) {
  const client = await sdk.connect(server.url, options(server, extra));
  const result = await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key, device: device(), ...request });
  return { client, result };
}

/** Rejects like `promise`, with the error for assertions. */
async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail("expected a refusal");
}

function once(emitter, event) {
  return new Promise((resolve) => emitter.once(event, resolve));
}

describe("against skyline serve", TIMEOUT, () => {
  let dir;
  let server;
  let key;

  before(async () => {
    dir = await tempDir();
    key = await catalogue(dir);
    await ok(dir, "toggle", "set", "engine.limits.sendMessage.dailyLimit", "150", "--product", "telepower");
    await ok(dir, "toggle", "set", "engine.limits.inviteToChannel.dailyLimit", "500", "--product", "telepower");
    await ok(dir, "toggle", "set", "ui.ratio", "0.5", "--product", "telepower");
    await ok(dir, "toggle", "set", "ui.darkMode", "true", "--product", "telepower");
    await ok(dir, "toggle", "set", "ui.title", "Телепауэр", "--product", "telepower");
    server = await SkylineServer.start(dir);
  });

  after(async () => {
    await server?.stop();
    await removeDir(dir);
  });

  test("OK: activation, dates, plan, and the last login is stored and sent next time", async () => {
    const store = new sdk.MemoryLastLoginStore();
    const me = device();
    const client = await sdk.connect(server.url, options(server, { lastLoginStore: store, device: me }));
    const first = await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key.toLowerCase() });
    assert.equal(first.isActivatedNow, true);
    assert.equal(first.licensePlan, "P");
    assert.match(first.activationDate, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(first.expiryDate, sdk.addCalendarMonths(first.activationDate, 1));
    assert.equal(first.graceUntil, null);
    assert.deepEqual(first.device, me);
    const lastLoginKey = { productId: "telepower", licenseKey: key, ...me };
    assert.equal(await store.get(lastLoginKey), first.lastLoginToPersist);
    assert.equal(typeof (await client.getFeatureToggles())["ui.darkMode"], "boolean");

    // A second start (a new connection) sends the stored last login and is accepted.
    const second = await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key });
    assert.equal(second.isActivatedNow, false);
    assert.equal(second.activationDate, first.activationDate);
    assert.equal(await store.get(lastLoginKey), second.lastLoginToPersist);
    await client.close();

    // A new client with the same store (a restart of the app) starts again.
    const again = await sdk.connect(server.url, options(server, { lastLoginStore: store, device: me }));
    assert.equal((await again.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key })).isActivatedNow, false);
    await again.close();
  });

  test("the file-backed last-login store carries the last login across clients", async () => {
    const data = await tempDir("skyline-ts-data-");
    const me = device();
    const k = await newKey(dir);
    for (let i = 0; i < 3; i++) {
      const client = await sdk.connect(server.url, { identityPublicKey: server.identityPublicKey, dataDir: data, device: me });
      const result = await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: k });
      assert.equal(result.isActivatedNow, i === 0);
      await client.close();
    }
    const store = new sdk.FileLastLoginStore(join(data, "skyline-last-login.json"));
    assert.equal(typeof (await store.get({ productId: "telepower", licenseKey: k, ...me })), "number");
    await removeDir(data);
  });

  for (const language of ["en", "ru"]) {
    const cyrillic = /[а-яА-ЯёЁ]/;
    const localized = (e) => {
      assert.equal(typeof e.e, "string");
      assert.ok(e.e.length > 0);
      assert.equal(cyrillic.test(e.e), language === "ru", e.e);
    };

    test(`[${language}] UNKNOWN_PRODUCT, also for a disabled product`, async () => {
      const e = await refusal(session(server, key, {}, { productId: "no-such-product", language }));
      assert.ok(e instanceof sdk.UnknownProductError);
      assert.equal(e.status, "UNKNOWN_PRODUCT");
      localized(e);
      const product = `disabled-${language}`;
      await ok(dir, "product", "create", product, "--min-version", "1.0.0");
      await ok(dir, "plan", "create", `plan-${product}`, "--product", product, "--months", "1");
      const k = await newKey(dir, `plan-${product}`);
      await ok(dir, "product", "disable", product);
      const disabled = await refusal(session(server, k, {}, { productId: product, productVersion: "1.0.0", language }));
      assert.ok(disabled instanceof sdk.UnknownProductError);
    });

    test(`[${language}] OUTDATED_VERSION`, async () => {
      const e = await refusal(session(server, key, {}, { productVersion: "6.99.99", language }));
      assert.ok(e instanceof sdk.OutdatedVersionError);
      localized(e);
    });

    test(`[${language}] INVALID_LICENSE_KEY, for an unknown and for a malformed key`, async () => {
      for (const k of ["BCDFG-HJKMP-QRTVW-XY234-6789B", "not a key", ""]) {
        const e = await refusal(session(server, k, {}, { language }));
        assert.ok(e instanceof sdk.InvalidLicenseKeyError, `${k}: ${e}`);
        localized(e);
      }
    });

    test(`[${language}] LICENSE_REVOKED`, async () => {
      const k = await newKey(dir);
      await ok(dir, "license", "revoke", k);
      const e = await refusal(session(server, k, {}, { language }));
      assert.ok(e instanceof sdk.LicenseRevokedError);
      localized(e);
    });

    test(`[${language}] LICENSE_EXPIRED`, async () => {
      const k = await newKey(dir);
      const { client } = await session(server, k, {}, { language });
      await client.close();
      await ok(dir, "license", "set-expiry", k, "2020-01-01");
      const e = await refusal(session(server, k, {}, { language }));
      assert.ok(e instanceof sdk.LicenseExpiredError);
      localized(e);
    });

    test(`[${language}] KEY_BOUND_TO_ANOTHER_DEVICE names the date of the first binding in words`, async () => {
      const k = await newKey(dir);
      const { client } = await session(server, k, {}, { language });
      await client.close();
      const e = await refusal(session(server, k, {}, { language }));
      assert.ok(e instanceof sdk.KeyBoundToAnotherDeviceError);
      localized(e);
      assert.match(e.e, language === "ru" ? /\d{1,2} [а-я]+ \d{4} года/ : /[A-Z][a-z]+ \d{1,2}, \d{4}/);
    });

    test(`[${language}] INTEGRITY_BREACH code LL for a wrong last login, and the device stays locked`, async () => {
      const k = await newKey(dir);
      const me = device();
      const store = new sdk.MemoryLastLoginStore();
      const client = await sdk.connect(server.url, options(server, { lastLoginStore: store, device: me }));
      await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: k, language });
      const e = await refusal(client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: k, language, lastLoginReportedByClient: 12345 }));
      assert.ok(e instanceof sdk.IntegrityBreachError);
      assert.equal(e.code, "LL");
      assert.equal(e.status, "INTEGRITY_BREACH");
      localized(e);
      assert.ok(e.e.trimEnd().replace(/\.$/, "").endsWith("LL"), e.e);
      // Permanent: calls fail with it, no reconnect is attempted.
      assert.equal(client.refusal, e);
      let reconnects = 0;
      client.on("reconnecting", () => reconnects++);
      assert.equal(await refusal(client.getFeatureToggles()), e);
      assert.equal(reconnects, 0);
      // Locked: even the right last login is refused now.
      const locked = await refusal(client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: k, language }));
      assert.ok(locked instanceof sdk.IntegrityBreachError);
      await client.close();
    });
  }

  test("feature toggles are layered product < plan < license, with their types", async () => {
    const k = await newKey(dir);
    await ok(dir, "toggle", "set", "engine.limits.sendMessage.dailyLimit", "300", "--product", "telepower", "--plan", "P");
    await ok(dir, "toggle", "set", "engine.limits.inviteToChannel.dailyLimit", "900", "--product", "telepower", "--license", k);
    const { client } = await session(server, k);
    const toggles = await client.getFeatureToggles();
    assert.equal(toggles["engine.limits.sendMessage.dailyLimit"], 300);
    assert.equal(toggles["engine.limits.inviteToChannel.dailyLimit"], 900);
    assert.equal(toggles["ui.ratio"], 0.5);
    assert.equal(toggles["ui.darkMode"], true);
    assert.equal(toggles["ui.title"], "Телепауэр");
    await client.close();
  });

  test("telemetry events are stored with their data", async () => {
    const k = await newKey(dir);
    const { client } = await session(server, k);
    const marker = `direct-${process.pid}`;
    const receipts = [];
    for (let i = 0; i < 5; i++) {
      receipts.push(await client.sendTelemetryEvent({ event: "app.navigation", data: { to: "/account-manager", marker, i } }));
    }
    assert.ok(receipts.every((r) => r.queued === false && /^[0-9a-f-]{36}$/.test(r.eventId)));
    await client.sendTelemetryEvent({ event: "app.started" });
    const bad = await refusal(client.sendTelemetryEvent({ event: "has spaces" }));
    assert.ok(bad instanceof sdk.InvalidEventError);
    const rows = (await exportTelemetry(dir)).filter((r) => r.data?.marker === marker);
    assert.deepEqual(rows.map((r) => r.data.i).sort(), [0, 1, 2, 3, 4]);
    assert.ok(rows.every((r) => r.event === "app.navigation" && r.data.to === "/account-manager"));
    await client.close();
  });

  test("unknown methods are UNKNOWN_METHOD and leave the connection open", async () => {
    const { client } = await session(server, await newKey(dir));
    const e = await refusal(client.call("no-such-method", {}));
    assert.ok(e instanceof sdk.UnknownMethodError);
    assert.equal(e.method, "no-such-method");
    assert.equal(typeof (await client.getFeatureToggles()), "object");
    assert.ok(client.connected);
    await client.close();
  });

  test("pipelining: hundreds of requests in flight on one connection, answered in order", async () => {
    const connection = await sdk.Connection.open(server.url, { identityPublicKey: server.identityPublicKey, requestTimeoutMs: 120_000 });
    await connection.request("start-session", {
      productId: "telepower",
      productVersion: "7.0.3",
      language: null,
      lastLoginReportedByClient: null,
      licenseKey: await newKey(dir),
      ...device(),
    });
    const order = [];
    const calls = [];
    for (let i = 0; i < 300; i++) {
      const method = i % 3 === 0 ? "send-telemetry-event" : "get-feature-toggles";
      const payload = method === "get-feature-toggles" ? null : { event: "pipelined", data: { i } };
      calls.push(connection.request(method, payload).then((answer) => order.push(answer.q)));
    }
    assert.equal(connection.inFlight, 300);
    await Promise.all(calls);
    assert.deepEqual(order, Array.from({ length: 300 }, (_, i) => i + 1));
    await connection.close();

    // The same through Client: concurrent calls share one connection.
    const { client } = await session(server, await newKey(dir));
    const results = await Promise.all(Array.from({ length: 64 }, () => client.getFeatureToggles()));
    assert.ok(results.every((r) => r["ui.darkMode"] === true));
    await client.close();
  });

  test("a wrong pinned key is ServerIdentityMismatchError", async () => {
    const wrong = "e9e86c6662583e5bba45a2b840a5868aafcf72d3a3c080c986e01cad0adfab2f";
    assert.notEqual(wrong, server.identityPublicKey);
    const e = await refusal(sdk.connect(server.url, options(server, { identityPublicKey: wrong })));
    assert.ok(e instanceof sdk.ServerIdentityMismatchError);
    // A client that only meets an impostor stops: no reconnect loop.
    const client = new sdk.Client(server.url, options(server, { identityPublicKey: wrong }));
    const again = await refusal(client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key, device: device() }));
    assert.ok(again instanceof sdk.ServerIdentityMismatchError);
    await client.close();
  });

  test("examples/start-session.mjs prints OK and the dates, or the status and exits 1", async () => {
    const k = await newKey(dir);
    const example = (args) =>
      new Promise((resolve) => {
        execFile(process.execPath, [join(PACKAGE_DIR, "examples", "start-session.mjs"), ...args], { timeout: 120_000 }, (error, stdout, stderr) =>
          resolve({ code: error ? error.code : 0, stdout, stderr }),
        );
      });
    const data = await tempDir("skyline-ts-example-");
    const common = ["--url", server.url, "--identity-public", server.identityPublicKey, "--product", "telepower", "--product-version", "7.0.3", "--data-dir", data];
    const good = await example([...common, "--key", k]);
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /^OK\b/);
    assert.match(good.stdout, /plan: P/);
    assert.match(good.stdout, /expires: \d{4}-\d{2}-\d{2}/);
    await ok(dir, "license", "revoke", k);
    const revoked = await example([...common, "--key", k, "--language", "en"]);
    assert.equal(revoked.code, 1);
    assert.match(revoked.stdout, /^LICENSE_REVOKED\n.+/);
    // The device was read from this machine (or its fallback): the same one twice.
    const k2 = await newKey(dir);
    assert.equal((await example([...common, "--key", k2])).code, 0);
    const rerun = await example([...common, "--key", k2, "--toggles"]);
    assert.equal(rerun.code, 0, rerun.stdout);
    assert.match(rerun.stdout, /toggle ui\.darkMode = true/);
    await removeDir(data);
  });
});

describe("reconnecting", TIMEOUT, () => {
  test("after the server restarts (SIGTERM, same data directory and port), calls carry on transparently", async () => {
    const dir = await tempDir();
    const key = await catalogue(dir);
    await ok(dir, "toggle", "set", "ui.darkMode", "true", "--product", "telepower");
    let server = await SkylineServer.start(dir);
    const store = new sdk.MemoryLastLoginStore();
    const me = device();
    const client = await sdk.connect(server.url, options(server, { lastLoginStore: store, device: me, sessionWaitMs: 120_000, reconnect: { initialDelayMs: 50, maxDelayMs: 500 } }));
    const sessions = [];
    client.on("session", (s) => sessions.push(s));
    await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key });
    assert.equal((await client.getFeatureToggles())["ui.darkMode"], true);

    const lost = once(client, "disconnected");
    await server.stop();
    const error = await lost;
    assert.ok(error instanceof sdk.ConnectionClosedError);
    assert.equal(error.code, 1001, "a server shutting down closes with 1001");

    // A call while the server is down waits for it.
    const pending = client.getFeatureToggles();
    const telemetry = client.sendTelemetryEvent({ event: "app.resumed", data: { restart: true } });
    server = await server.restart();
    assert.equal((await pending)["ui.darkMode"], true);
    assert.equal((await telemetry).queued, false);
    assert.equal(sessions.length, 2);
    assert.equal(sessions[1].isActivatedNow, false);
    assert.equal(await store.get({ productId: "telepower", licenseKey: key, ...me }), sessions[1].lastLoginToPersist);
    assert.ok((await exportTelemetry(dir)).some((r) => r.event === "app.resumed"));

    // A refusal that cannot change stops reconnecting and is surfaced.
    const lostAgain = once(client, "disconnected");
    await server.stop();
    await lostAgain;
    await ok(dir, "license", "revoke", key);
    server = await server.restart();
    const refusedEvent = once(client, "refused");
    const e = await refusal(client.getFeatureToggles());
    assert.ok(e instanceof sdk.LicenseRevokedError);
    assert.equal(await refusedEvent, e);
    assert.equal(await refusal(client.getFeatureToggles()), e);
    await client.close();
    await server.stop();
    await removeDir(dir);
  });

  test("after the server closes an idle connection (1000), the next call reconnects", async () => {
    const dir = await tempDir();
    const key = await catalogue(dir);
    const server = await SkylineServer.start(dir, { extraArgs: ["--idle-timeout", "1"] });
    // Not connected ahead: startSession connects and sends at once, well within the idle second.
    const client = new sdk.Client(server.url, options(server, { device: device() }));
    await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key });
    const error = await once(client, "disconnected");
    assert.equal(error.code, 1000);
    assert.equal(client.connected, false);
    assert.deepEqual(await client.getFeatureToggles(), {});
    assert.ok(client.connected);
    await client.close();
    await server.stop();
    await removeDir(dir);
  });
});

describe("wss://", TIMEOUT, () => {
  const fixtures = join(REPO_DIR, "crates", "skyline-client", "tests", "fixtures");
  test("TLS on the server's own listener: trusted with an extra CA, refused without it", { skip: !existsSync(join(fixtures, "test-ca.pem")) && "no TLS fixtures" }, async () => {
    const dir = await tempDir();
    const key = await catalogue(dir);
    const server = await SkylineServer.start(dir, { extraArgs: ["--tls-cert", join(fixtures, "test-server.pem"), "--tls-key", join(fixtures, "test-server.key")] });
    assert.match(server.url, /^wss:\/\//);
    const ca = readFileSync(join(fixtures, "test-ca.pem"), "utf8");
    const untrusted = await refusal(sdk.connect(server.url, options(server)));
    assert.ok(!(untrusted instanceof sdk.RpcError), String(untrusted));
    assert.match(String(untrusted.code ?? untrusted.message), /CERT|certificate|UNABLE/i);
    const { client, result } = await session(server, key, { ca });
    assert.equal(result.isActivatedNow, true);
    assert.equal(typeof (await client.getFeatureToggles()), "object");
    await client.close();
    // The localhost name works as well as the address.
    const byName = await sdk.connect(server.url.replace("127.0.0.1", "localhost"), options(server, { ca: [ca] }));
    await byName.close();
    await server.stop();
    await removeDir(dir);
  });
});

describe("check-update end to end (PROTOCOL 1.1)", TIMEOUT, () => {
  test("a published release is offered, signed by its manifest, and downloads verified", async (t) => {
    const dir = await tempDir();
    const key = await catalogue(dir);
    const file = randomBytes(200_000);
    const artifact = join(dir, "TelePower-7.1.0.bin");
    await writeFile(artifact, file);
    await ok(dir, "release", "publish", "--product", "telepower", "--version", "7.1.0", "--platform", "linux-x64", artifact);
    const server = await SkylineServer.start(dir);
    try {
      const { client } = await session(server, key);
      let offer;
      try {
        offer = await client.checkUpdate({ platform: "linux-x64" });
      } catch (e) {
        if (e instanceof sdk.UnknownMethodError) {
          t.skip("this server does not serve check-update yet (PROTOCOL 1.1); the codec is tested against a scripted server in client.test.mjs");
          await client.close();
          return;
        }
        throw e;
      }
      assert.ok(offer, "7.1.0 is newer than 7.0.3");
      assert.equal(offer.version, "7.1.0");
      assert.equal(offer.platform, "linux-x64");
      assert.equal(offer.size, file.length);
      assert.equal(offer.sha256, createHash("sha256").update(file).digest("hex"));
      assert.ok(sdk.verifyReleaseSignature(offer, offer.signature, server.identityPublicKey), "signed over the release manifest");
      const out = await tempDir("skyline-ts-dl-");
      const got = await sdk.downloadUpdate(offer, { baseUrl: server.url, identityPublicKey: server.identityPublicKey, dest: join(out, "update.bin") });
      assert.ok((await readFile(got.path)).equals(file));
      await removeDir(out);
      await client.close();
      const { client: current } = await session(server, await newKey(dir), {}, { productVersion: "7.1.0" });
      assert.equal(await current.checkUpdate({ platform: "linux-x64" }), null, "nothing newer than 7.1.0");
      await current.close();
    } finally {
      await server.stop();
      await removeDir(dir);
    }
  });
});
