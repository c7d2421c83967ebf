// Replays every vector of test/vectors/ (copies of ../shared/vectors, computed
// by an independent implementation) byte for byte, with fixed ephemeral keys
// and nonces from the package's internal test hooks.
import assert from "node:assert/strict";
import { sign } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import * as t from "../dist/internal/testing.js";
import { REPO_DIR, VECTORS_DIR, hex, vectors } from "./helpers/paths.mjs";

const handshake = vectors("handshake.json");
const frames = vectors("frames.json");
const rules = vectors("rules.json");
const formats = vectors("formats.json");

describe("vector files", () => {
  const shared = join(REPO_DIR, "..", "shared", "vectors");
  test("are byte-identical copies of ../shared/vectors", { skip: existsSync(shared) ? false : "no ../shared/vectors beside the repository" }, () => {
    const names = readdirSync(shared).filter((n) => n.endsWith(".json")).sort();
    assert.deepEqual(readdirSync(VECTORS_DIR).filter((n) => n.endsWith(".json")).sort(), names);
    for (const name of names) {
      assert.ok(readFileSync(join(shared, name)).equals(readFileSync(join(VECTORS_DIR, name))), name);
    }
  });
});

describe("handshake.json", () => {
  for (const c of handshake.cases) {
    test(`${c.name}: keys, hello, proof, signature, shared secret, session key`, () => {
      const identity = t.ed25519PrivateKey(hex(c.identitySeed));
      assert.equal(t.toHex(t.ed25519PublicRaw(identity)), c.identityPublic);
      assert.equal(t.toHex(t.EphemeralKeyPair.fromPrivate(hex(c.clientEcdhPrivate)).publicKey), c.clientEcdhPublic);
      assert.equal(t.toHex(t.EphemeralKeyPair.fromPrivate(hex(c.serverEcdhPrivate)).publicKey), c.serverEcdhPublic);

      const proof = t.handshakeProof(hex(c.clientEcdhPublic), hex(c.serverEcdhPublic), hex(c.clientNonce), hex(c.serverNonce));
      assert.equal(t.toHex(proof), c.proof);
      assert.equal(sign(null, proof, identity).toString("hex"), c.signature);

      const client = t.ClientHandshake.startFixed(hex(c.clientEcdhPrivate), hex(c.clientNonce));
      assert.equal(t.toHex(client.hello), c.clientHelloMsgpack);
      assert.equal(
        t.toHex(t.encode({ S: "OK", e: null, R: { serverEcdhPublic: hex(c.serverEcdhPublic), signature: hex(c.signature), serverNonce: hex(c.serverNonce) } })),
        c.serverHelloMsgpack,
      );
      const done = client.finishDetailed(sdk.IdentityPublicKey.from(c.identityPublic), hex(c.serverHelloMsgpack));
      assert.equal(t.toHex(done.proof), c.proof);
      assert.equal(t.toHex(done.sharedSecret), c.sharedSecret);
      assert.equal(t.toHex(done.sessionKey), c.sessionKey);
      assert.equal(t.toHex(t.deriveSessionKey(hex(c.sharedSecret), hex(c.clientNonce), hex(c.serverNonce))), c.sessionKey);
      // The server's side of the agreement gives the same secret.
      assert.equal(t.toHex(t.EphemeralKeyPair.fromPrivate(hex(c.serverEcdhPrivate)).agree(hex(c.clientEcdhPublic))), c.sharedSecret);
    });

    test(`${c.name}: another pinned key is ServerIdentityMismatchError`, () => {
      const other = handshake.cases.find((o) => o.identityPublic !== c.identityPublic);
      const client = t.ClientHandshake.startFixed(hex(c.clientEcdhPrivate), hex(c.clientNonce));
      assert.throws(() => client.finish(sdk.IdentityPublicKey.from(other.identityPublic), hex(c.serverHelloMsgpack)), sdk.ServerIdentityMismatchError);
    });

    test(`${c.name}: a tampered signature or nonce is ServerIdentityMismatchError`, () => {
      for (const [offset, what] of [[60, "signature"], [150, "serverNonce"]]) {
        const reply = hex(c.serverHelloMsgpack);
        const at = what === "signature" ? t.toHex(reply).indexOf(c.signature) / 2 + 5 : reply.length - 3;
        reply[at] ^= 0x01;
        const client = t.ClientHandshake.startFixed(hex(c.clientEcdhPrivate), hex(c.clientNonce));
        assert.throws(() => client.finish(sdk.IdentityPublicKey.from(c.identityPublic), reply), sdk.ServerIdentityMismatchError, `${what} at ${offset}`);
      }
    });
  }

  test("a low-order server key aborts the handshake, even correctly signed", () => {
    const c = handshake.cases[0];
    const identity = t.ed25519PrivateKey(hex(c.identitySeed));
    for (const low of handshake.lowOrderClientKeys) {
      const proof = t.handshakeProof(hex(c.clientEcdhPublic), hex(low), hex(c.clientNonce), hex(c.serverNonce));
      const reply = t.encode({ S: "OK", e: null, R: { serverEcdhPublic: hex(low), signature: new Uint8Array(sign(null, proof, identity)), serverNonce: hex(c.serverNonce) } });
      const client = t.ClientHandshake.startFixed(hex(c.clientEcdhPrivate), hex(c.clientNonce));
      assert.throws(() => client.finish(sdk.IdentityPublicKey.from(c.identityPublic), reply), sdk.ProtocolViolationError, low);
      assert.equal(t.EphemeralKeyPair.fromPrivate(hex(c.clientEcdhPrivate)).agree(hex(low)), null, low);
    }
  });

  test("a BAD_HANDSHAKE reply is BadHandshakeError with the server's reason, other statuses their class", () => {
    const client = t.ClientHandshake.start();
    const pinned = sdk.IdentityPublicKey.from(handshake.cases[0].identityPublic);
    assert.throws(
      () => client.finish(pinned, t.encode({ S: "BAD_HANDSHAKE", e: "field `nonce`: expected 32 bytes", R: null })),
      (e) => e instanceof sdk.BadHandshakeError && e.status === "BAD_HANDSHAKE" && e.e === "field `nonce`: expected 32 bytes",
    );
    assert.throws(() => client.finish(pinned, t.encode({ S: "RATE_LIMITED", e: "slow down", R: null })), sdk.RateLimitedError);
    assert.throws(() => client.finish(pinned, t.encode({ S: "OK", e: null, R: { serverEcdhPublic: new Uint8Array(31) } })), sdk.ProtocolViolationError);
    assert.throws(() => client.finish(pinned, new Uint8Array([0xc1])), sdk.ProtocolViolationError);
  });
});

describe("frames.json", () => {
  const requestPayload = (json) => {
    if (json.r === "start-session") return t.encodeStartSession(json.d);
    if (json.r === "send-telemetry-event") return t.encodeTelemetryEvent(t.validateEvent(json.d));
    return json.d;
  };

  for (const c of frames.cases) {
    test(`${c.name}: sealed with the fixed nonce, opened, encoded and decoded byte for byte`, () => {
      const cipher = new t.FrameCipher(hex(c.sessionKey));
      assert.equal(t.toHex(cipher.seal(hex(c.plaintextMsgpack), hex(c.nonce))), c.frame);
      assert.equal(t.toHex(cipher.open(hex(c.frame))), c.plaintextMsgpack);
      const json = c.plaintextJson;
      if ("r" in json) {
        assert.equal(t.toHex(t.encodeRequest({ ...json, d: requestPayload(json) })), c.plaintextMsgpack);
      } else {
        const response = t.decodeResponse(hex(c.plaintextMsgpack));
        assert.deepEqual(response, json);
        assert.equal(t.toHex(t.encodeResponse(json)), c.plaintextMsgpack);
        if (c.name === "toggles-response") {
          assert.deepEqual(t.decodeFeatureToggles(response.R), json.R);
        }
        if (c.name === "start-session-response") {
          assert.deepEqual(t.decodeStartSessionAnswer(response.R), { ...json.R, graceUntil: null });
        }
      }
    });
  }

  for (const c of frames.mustFail) {
    test(`${c.name}: refused without detail`, () => {
      const cipher = new t.FrameCipher(hex(c.sessionKey));
      assert.throws(() => cipher.open(hex(c.frame)), (e) => e instanceof t.FrameOpenError && e.message === "a frame failed authentication");
    });
  }

  test("a frame shorter than 28 bytes or under another key is refused", () => {
    const c = frames.cases[0];
    const cipher = new t.FrameCipher(hex(c.sessionKey));
    assert.throws(() => cipher.open(hex(c.frame).subarray(0, 27)), t.FrameOpenError);
    assert.throws(() => new t.FrameCipher(hex(handshake.cases[1].sessionKey)).open(hex(c.frame)), t.FrameOpenError);
    assert.equal(t.toHex(cipher.open(cipher.seal(new Uint8Array(0)))), "");
  });
});

describe("rules.json", () => {
  test("expiry: calendar months clamp to the month's last day", () => {
    for (const c of rules.expiry) {
      assert.equal(sdk.addCalendarMonths(c.activationDate, c.months), c.expiryDate, JSON.stringify(c));
    }
  });
  test("license keys: case, spaces and dashes are normalized", () => {
    for (const c of rules.licenseKeys) {
      assert.equal(sdk.normalizeLicenseKey(c.input), c.normalized, JSON.stringify(c));
    }
  });
  test("versions compare numerically, component by component", () => {
    for (const c of rules.versions) {
      assert.equal(sdk.compareVersions(c.a, c.b), c.cmp, JSON.stringify(c));
      assert.equal(sdk.compareVersions(c.b, c.a), -c.cmp || 0, JSON.stringify(c));
    }
  });
});

describe("formats.json", () => {
  const pinned = formats.identityPublic;
  const identity = t.ed25519PrivateKey(hex(formats.identitySeed));

  test("the identity key pair", () => {
    assert.equal(t.toHex(t.ed25519PublicRaw(identity)), pinned);
  });

  test("rollout buckets", () => {
    for (const c of formats.rolloutBuckets) {
      const bucket = sdk.rolloutBucket(c.productId, c.version, c.deviceSerialNumber, c.csProductUUID);
      assert.equal(bucket, c.bucket, JSON.stringify(c));
      assert.equal(sdk.insideRollout(bucket, 37.5), c["insideAt37.5"]);
      assert.equal(sdk.insideRollout(bucket, 100), c.insideAt100);
      assert.equal(sdk.insideRollout(bucket, 0), c.insideAt0);
    }
  });

  for (const c of formats.releaseManifests) {
    test(`release manifest ${c.productId} ${c.version} ${c.channel} ${c.platform || "(every platform)"}`, () => {
      const file = hex(c.fileHex);
      assert.equal(file.length, c.size);
      assert.equal(t.toHex(t.sha256(file)), c.sha256);
      const fields = { productId: c.productId, version: c.version, channel: c.channel, platform: c.platform || null, size: c.size, sha256: c.sha256 };
      assert.equal(sdk.releaseManifest(fields), c.manifest);
      assert.equal(sdk.releaseManifest({ ...fields, platform: c.platform }), c.manifest);
      assert.equal(Buffer.from(c.signatureBase64, "base64").toString("hex"), c.signatureHex);
      assert.equal(sign(null, Buffer.from(c.manifest, "utf8"), identity).toString("hex"), c.signatureHex);
      assert.ok(sdk.verifyReleaseSignature(fields, hex(c.signatureHex), pinned));
      for (const changed of [
        { version: "9.9.9" },
        { channel: c.channel === "stable" ? "beta" : "stable" },
        { platform: c.platform ? null : "windows-x64" },
        { productId: "someone-else" },
        { size: c.size + 1 },
        { sha256: "0".repeat(64) },
      ]) {
        assert.equal(sdk.verifyReleaseSignature({ ...fields, ...changed }, hex(c.signatureHex), pinned), false, JSON.stringify(changed));
      }
      assert.equal(sdk.verifyReleaseSignature(fields, hex(c.signatureHex), handshake.cases[0].identityPublic), false);
    });
  }

  for (const [i, c] of formats.offlineLicenses.entries()) {
    test(`offline license ${i}: valid file, tampered file, every refusal`, () => {
      const payload = JSON.parse(c.payloadJson);
      const lines = c.file.split("\n");
      assert.equal(Buffer.from(lines[1], "base64").toString("utf8"), c.payloadJson);
      assert.equal(Buffer.from(lines[2], "base64").toString("hex"), c.signatureHex);
      assert.equal(
        sign(null, Buffer.concat([Buffer.from("skyline-license-v1\n"), Buffer.from(c.payloadJson, "utf8")]), identity).toString("hex"),
        c.signatureHex,
      );
      const device = { productId: payload.product, deviceSerialNumber: payload.deviceSerialNumber, csProductUUID: payload.csProductUUID };
      const now = payload.issuedAt + 60;
      const ok = sdk.verifyOfflineLicense(c.file, pinned, device, now, null);
      assert.equal(ok.ok, c.valid);
      const { futureKey: _ignored, ...known } = payload;
      assert.deepEqual(ok.license, known);
      assert.equal(ok.seen, now);
      assert.equal(sdk.verifyOfflineLicense(c.file.replaceAll("\n", "\r\n"), pinned, device, now).ok, true);

      assert.deepEqual(sdk.verifyOfflineLicense(c.tamperedFile, pinned, device, now), { ok: false, reason: "signature" });
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, handshake.cases[0].identityPublic, device, now), { ok: false, reason: "signature" });
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, pinned, { ...device, productId: "other" }, now), { ok: false, reason: "product-mismatch" });
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, pinned, { ...device, deviceSerialNumber: "X" }, now), { ok: false, reason: "device-mismatch" });
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, pinned, { ...device, csProductUUID: "X" }, now), { ok: false, reason: "device-mismatch" });
      const lastDay = Date.parse(`${payload.validUntil}T23:59:59Z`) / 1000;
      assert.equal(sdk.verifyOfflineLicense(c.file, pinned, device, lastDay).ok, true);
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, pinned, device, lastDay + 1), { ok: false, reason: "expired" });
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, pinned, device, payload.issuedAt - 1), { ok: false, reason: "clock-turned-back" });
      assert.deepEqual(sdk.verifyOfflineLicense(c.file, pinned, device, now, now + 3600), { ok: false, reason: "clock-turned-back" });
      assert.equal(sdk.verifyOfflineLicense(c.file, pinned, device, new Date(now * 1000), now - 10).ok, true);
      assert.deepEqual(sdk.verifyOfflineLicense(c.file.replace("skyline-license-v1", "skyline-license-v2"), pinned, device, now), { ok: false, reason: "malformed" });
      assert.deepEqual(sdk.verifyOfflineLicense(`${c.file}extra\n`, pinned, device, now), { ok: false, reason: "malformed" });
    });
  }

  for (const c of formats.webhookSignatures) {
    test(`webhook signature at t=${c.t}`, () => {
      assert.equal(sdk.signWebhook(c.secret, c.t, c.body), c.header);
      assert.deepEqual(sdk.verifyWebhookSignature(c.secret, c.header, c.body, { now: c.t }), { ok: true, timestamp: c.t });
      assert.deepEqual(sdk.verifyWebhookSignature(Buffer.from(c.secret, "utf8"), c.header, Buffer.from(c.body, "utf8"), { now: c.t + 300 }), { ok: true, timestamp: c.t });
      assert.deepEqual(sdk.verifyWebhookSignature(c.secret, c.header, c.body, { now: c.t + 301 }), { ok: false, reason: "timestamp" });
      assert.deepEqual(sdk.verifyWebhookSignature(c.secret, c.header, c.body, { now: c.t - 10, toleranceSeconds: 5 }), { ok: false, reason: "timestamp" });
      assert.deepEqual(sdk.verifyWebhookSignature(c.secret, c.header, `${c.body} `, { now: c.t }), { ok: false, reason: "signature" });
      assert.deepEqual(sdk.verifyWebhookSignature(`${c.secret}x`, c.header, c.body, { now: c.t }), { ok: false, reason: "signature" });
      const otherT = c.header.replace(`t=${c.t}`, `t=${c.t + 1}`);
      assert.deepEqual(sdk.verifyWebhookSignature(c.secret, otherT, c.body, { now: c.t }), { ok: false, reason: "signature" });
      const rotated = `t=${c.t},v1=${"ab".repeat(32)},${c.header.split(",")[1]}`;
      assert.equal(sdk.verifyWebhookSignature(c.secret, rotated, c.body, { now: c.t }).ok, true);
      for (const bad of [undefined, "", "t=1", `v1=${"0".repeat(64)}`, "t=x,v1=zz"]) {
        assert.deepEqual(sdk.verifyWebhookSignature(c.secret, bad, c.body, { now: c.t }), { ok: false, reason: "malformed" });
      }
    });
  }
});
