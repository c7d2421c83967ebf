// downloadUpdate: signed manifests, streaming, resume with Range/If-Range,
// every verification failure, against a local HTTP server and against the
// real server's /download route.
import assert from "node:assert/strict";
import { createHash, randomBytes, sign } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, readdir, writeFile } from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import * as t from "../dist/internal/testing.js";
import { vectors } from "./helpers/paths.mjs";
import { SkylineServer, catalogue, ok, removeDir, tempDir } from "./helpers/skyline.mjs";

const formats = vectors("formats.json");
const identity = t.ed25519PrivateKey(Buffer.from(formats.identitySeed, "hex"));
const pinned = formats.identityPublic;

function offerFor(file, { productId = "telepower", version = "7.1.0", channel = "stable", platform = "linux-x64", rollback = false, key = identity, url } = {}) {
  const sha256 = createHash("sha256").update(file).digest("hex");
  const fields = { productId, version, channel, platform, size: file.length, sha256 };
  const signature = new Uint8Array(sign(null, Buffer.from(sdk.releaseManifest(fields)), key));
  return {
    version, channel, platform, mandatory: false, rollback, size: file.length, sha256, signature,
    url: url ?? `/download/${productId}/${version}?platform=${platform}`, notes: null, publishedAt: null,
    productId, installedVersion: "7.0.3",
  };
}

/** A download server: Range, If-Range against the ETag, and misbehaviours on request. */
async function fileServer(file) {
  const sha = createHash("sha256").update(file).digest("hex");
  const state = { requests: [], breakAfter: null, body: file, announce: sha, etag: `"${sha}"`, status: 200 };
  const server = createServer((req, res) => {
    state.requests.push({ url: req.url, range: req.headers.range ?? null, ifRange: req.headers["if-range"] ?? null });
    if (state.status !== 200) {
      res.writeHead(state.status, { "content-type": "application/json" }).end('{"error":{"code":"UNKNOWN_RELEASE","message":"no such release"}}');
      return;
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? "");
    const honour = m && (!req.headers["if-range"] || req.headers["if-range"] === state.etag);
    const headers = { etag: state.etag, "accept-ranges": "bytes", "x-skyline-sha256": state.announce };
    if (honour) {
      start = Number(m[1]);
      res.writeHead(206, { ...headers, "content-range": `bytes ${start}-${state.body.length - 1}/${state.body.length}`, "content-length": state.body.length - start });
    } else {
      res.writeHead(200, { ...headers, "content-length": state.body.length });
    }
    const rest = state.body.subarray(start);
    if (state.breakAfter !== null) {
      const cut = state.breakAfter;
      state.breakAfter = null;
      res.write(rest.subarray(0, cut), () => res.destroy());
      return;
    }
    res.end(rest);
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  return { state, baseUrl: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

async function refusal(promise) {
  try {
    await promise;
  } catch (e) {
    return e;
  }
  assert.fail("expected a refusal");
}

describe("downloadUpdate", () => {
  test("download URLs from http(s) and ws(s) bases, with prefixes", () => {
    assert.equal(t.downloadUrl("http://127.0.0.1:7700", "/download/tp/7.1.0?platform=x").href, "http://127.0.0.1:7700/download/tp/7.1.0?platform=x");
    assert.equal(t.downloadUrl("wss://lic.example.com/ws", "/download/tp/1.0").href, "https://lic.example.com/download/tp/1.0");
    assert.equal(t.downloadUrl("ws://h:1/prefix/ws", "/download/tp/1.0").href, "http://h:1/prefix/download/tp/1.0");
    assert.equal(t.downloadUrl("https://h/prefix/", "download/tp/1.0").href, "https://h/prefix/download/tp/1.0");
    assert.equal(t.downloadUrl("https://h", "https://cdn.example.com/f.exe").href, "https://cdn.example.com/f.exe");
    assert.throws(() => t.downloadUrl("ftp://h", "/x"), TypeError);
  });

  test("a fresh download is verified and kept; nothing else is left", async () => {
    const file = randomBytes(300_000);
    const server = await fileServer(file);
    const dir = await tempDir("skyline-ts-dl-");
    const dest = join(dir, "TelePower-7.1.0.bin");
    const progress = [];
    const got = await sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest, onProgress: (n) => progress.push(n) });
    assert.deepEqual(got, { path: dest, version: "7.1.0", size: file.length, sha256: createHash("sha256").update(file).digest("hex"), resumedFrom: 0 });
    assert.ok((await readFile(dest)).equals(file));
    assert.deepEqual(await readdir(dir), ["TelePower-7.1.0.bin"]);
    assert.equal(progress.at(-1), file.length);
    assert.equal(server.state.requests[0].url, "/download/telepower/7.1.0?platform=linux-x64");
    await server.close();
    await removeDir(dir);
  });

  test("a broken download resumes with Range and If-Range", async () => {
    const file = randomBytes(500_000);
    const server = await fileServer(file);
    const dir = await tempDir("skyline-ts-dl-");
    const dest = join(dir, "update.bin");
    server.state.breakAfter = 200_000;
    const broken = await refusal(sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }));
    assert.ok(broken instanceof sdk.UpdateDownloadError || broken instanceof sdk.UpdateVerificationError, String(broken));
    assert.equal(existsSync(dest), false);
    const part = (await readdir(dir)).find((n) => n.endsWith(".part"));
    assert.ok(part, "the partial file is kept");
    const kept = (await readFile(join(dir, part))).length;
    assert.ok(kept > 0 && kept < file.length);

    const got = await sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest });
    assert.equal(got.resumedFrom, kept);
    const sha = createHash("sha256").update(file).digest("hex");
    assert.deepEqual(server.state.requests[1], { url: "/download/telepower/7.1.0?platform=linux-x64", range: `bytes=${kept}-`, ifRange: `"${sha}"` });
    assert.ok((await readFile(dest)).equals(file));
    assert.deepEqual(await readdir(dir), ["update.bin"]);
    await server.close();
    await removeDir(dir);
  });

  test("If-Range naming another file gets the whole file back", async () => {
    const file = randomBytes(100_000);
    const server = await fileServer(file);
    server.state.etag = '"something-else"';
    const dir = await tempDir("skyline-ts-dl-");
    const dest = join(dir, "update.bin");
    const offer = offerFor(file);
    await writeFile(`${dest}.${offer.sha256.slice(0, 16)}.part`, file.subarray(0, 1000));
    const got = await sdk.downloadUpdate(offer, { baseUrl: server.baseUrl, identityPublicKey: pinned, dest });
    assert.equal(got.resumedFrom, 0);
    assert.ok((await readFile(dest)).equals(file));
    await server.close();
    await removeDir(dir);
  });

  test("bytes that do not match the signed SHA-256 or size are deleted", async () => {
    const file = randomBytes(50_000);
    const server = await fileServer(file);
    const dir = await tempDir("skyline-ts-dl-");
    const dest = join(dir, "update.bin");

    server.state.body = Buffer.from(file).fill(0, 100, 200);
    const tampered = await refusal(sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }));
    assert.ok(tampered instanceof sdk.UpdateVerificationError && tampered.reason === "sha256");
    assert.deepEqual(await readdir(dir), []);

    server.state.body = Buffer.concat([file, Buffer.from("extra")]);
    const long = await refusal(sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }));
    assert.ok(long instanceof sdk.UpdateVerificationError && long.reason === "size");
    assert.deepEqual(await readdir(dir), []);

    server.state.body = file;
    server.state.announce = "0".repeat(64);
    const other = await refusal(sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }));
    assert.ok(other instanceof sdk.UpdateVerificationError && other.reason === "sha256");
    assert.deepEqual(await readdir(dir), []);
    await server.close();
    await removeDir(dir);
  });

  test("a bad signature or a downgrade downloads nothing; a signed rollback is accepted", async () => {
    const file = randomBytes(10_000);
    const server = await fileServer(file);
    const dir = await tempDir("skyline-ts-dl-");
    const dest = join(dir, "update.bin");
    const impostor = t.ed25519PrivateKey(Buffer.alloc(32, 9));
    const forged = await refusal(sdk.downloadUpdate(offerFor(file, { key: impostor }), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }));
    assert.ok(forged instanceof sdk.UpdateVerificationError && forged.reason === "signature");
    const relabelled = { ...offerFor(file), version: "9.9.9" };
    assert.equal((await refusal(sdk.downloadUpdate(relabelled, { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }))).reason, "signature");
    const older = offerFor(file, { version: "7.0.1" });
    assert.equal((await refusal(sdk.downloadUpdate(older, { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }))).reason, "downgrade");
    assert.equal(server.state.requests.length, 0);
    // `rollback` comes from the check-update answer, authenticated by the session, not by the manifest.
    const rollback = offerFor(file, { version: "7.0.1", rollback: true });
    assert.equal((await sdk.downloadUpdate(rollback, { baseUrl: server.baseUrl, identityPublicKey: pinned, dest })).version, "7.0.1");
    const { productId: _p, installedVersion: _v, ...bare } = offerFor(file);
    await assert.rejects(sdk.downloadUpdate(bare, { baseUrl: server.baseUrl, identityPublicKey: pinned, dest }), TypeError);
    assert.equal((await sdk.downloadUpdate(bare, { baseUrl: server.baseUrl, identityPublicKey: pinned, dest, productId: "telepower", installedVersion: "7.0.0" })).version, "7.1.0");
    await server.close();
    await removeDir(dir);
  });

  test("an HTTP error is UpdateDownloadError with its status", async () => {
    const file = randomBytes(100);
    const server = await fileServer(file);
    server.state.status = 404;
    const dir = await tempDir("skyline-ts-dl-");
    const e = await refusal(sdk.downloadUpdate(offerFor(file), { baseUrl: server.baseUrl, identityPublicKey: pinned, dest: join(dir, "u") }));
    assert.ok(e instanceof sdk.UpdateDownloadError);
    assert.equal(e.httpStatus, 404);
    assert.match(e.message, /UNKNOWN_RELEASE/);
    await server.close();
    await removeDir(dir);
  });
});

describe("downloadUpdate against skyline serve", { timeout: 180_000 }, () => {
  test("a published release, fresh and resumed, verified by the manifest signature", async () => {
    const dir = await tempDir();
    await catalogue(dir);
    const artifact = join(dir, "TelePower-7.1.0.bin");
    const file = randomBytes(400_000);
    await writeFile(artifact, file);
    await ok(dir, "release", "publish", "--product", "telepower", "--version", "7.1.0", "--platform", "linux-x64", artifact);
    const server = await SkylineServer.start(dir);
    // What a 1.1 server would answer to check-update, signed with this server's identity key.
    const seed = (await readFile(join(dir, "identity.key"), "utf8")).trim();
    const offer = offerFor(file, { key: t.ed25519PrivateKey(Buffer.from(seed, "hex")) });
    const out = await tempDir("skyline-ts-dl-");
    const dest = join(out, "TelePower-7.1.0.bin");
    const fresh = await sdk.downloadUpdate(offer, { baseUrl: server.url, identityPublicKey: server.identityPublicKey, dest });
    assert.equal(fresh.resumedFrom, 0);
    assert.ok((await readFile(dest)).equals(file));

    const again = join(out, "again.bin");
    await writeFile(`${again}.${offer.sha256.slice(0, 16)}.part`, file.subarray(0, 123_456));
    const resumed = await sdk.downloadUpdate(offer, { baseUrl: server.url, identityPublicKey: server.identityPublicKey, dest: again });
    assert.equal(resumed.resumedFrom, 123_456, "the server honoured Range with If-Range");
    assert.ok((await readFile(again)).equals(file));
    await server.stop();
    await removeDir(dir);
    await removeDir(out);
  });
});
