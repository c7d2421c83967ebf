// The offline queue across a killed process: a child queues events while the
// server is down and is SIGKILLed; a new client on the same queue directory
// drains them once the server is back; the server has every event.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { cp, mkdir, readdir } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, test } from "node:test";

import * as sdk from "../dist/index.js";
import { TEST_DIR } from "./helpers/paths.mjs";
import { SkylineServer, catalogue, exportTelemetry, removeDir, tempDir } from "./helpers/skyline.mjs";

const N = 40;

/** Runs the child until it printed QUEUED; resolves the event ids it printed, in order. */
function queueInChild(args) {
  const child = spawn(process.execPath, [join(TEST_DIR, "fixtures", "queue-child.mjs"), ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => {
    stderr += d.toString();
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return new Promise((resolve, reject) => {
    const ids = [];
    let start = null;
    const early = (code) => reject(new Error(`the child exited (${code}) before queueing; stderr:\n${stderr}`));
    child.once("exit", early);
    createInterface({ input: child.stdout }).on("line", (line) => {
      const [word, ...rest] = line.split(" ");
      if (word === "START") start = rest.join(" ");
      if (word === "EVENT") {
        assert.equal(rest[2], "true", "queued, not sent");
        ids.push(rest[1]);
      }
      if (word === "QUEUED") {
        child.off("exit", early);
        resolve({ child, ids, start, exited });
      }
    });
  });
}

describe("the telemetry queue survives a killed process", { timeout: 300_000 }, () => {
  test("queued while the server is down, SIGKILLed, drained by a new process, stored", async (t) => {
    const dir = await tempDir();
    const work = await tempDir("skyline-ts-queue-");
    const queueDir = join(work, "queue");
    const key = await catalogue(dir);
    let server = await SkylineServer.start(dir);
    await server.stop();

    const marker = `crash-${process.pid}-${Date.now()}`;
    const { child, ids, start, exited } = await queueInChild([server.url, server.identityPublicKey, queueDir, String(N), marker, key]);
    assert.notEqual(start, "OK", "the server is down");
    assert.equal(ids.length, N);
    assert.equal(new Set(ids).size, N, "every event has its own id");
    child.kill("SIGKILL");
    assert.equal((await exited).signal, "SIGKILL");
    const files = (await readdir(queueDir)).filter((n) => n.endsWith(".ev"));
    assert.equal(files.length, N, "every event is on disk after the kill");

    // Keep a copy: as if a process had crashed after the server's OK but before removing the files.
    const copy = join(work, "copy");
    await mkdir(copy);
    await cp(queueDir, copy, { recursive: true });

    server = await server.restart();
    const drain = async () => {
      const client = new sdk.Client(server.url, {
        identityPublicKey: server.identityPublicKey,
        device: { deviceSerialNumber: `CRASH-${marker}`, csProductUUID: `CRASH-UUID-${marker}` },
        lastLoginStore: store,
        telemetryQueue: { dir: queueDir },
        requestTimeoutMs: 60_000,
      });
      await client.startSession({ productId: "telepower", productVersion: "7.0.3", licenseKey: key });
      const flushed = await client.flush({ timeoutMs: 120_000 });
      const stats = await client.queueStats();
      await client.close();
      return { flushed, stats };
    };
    const store = new sdk.MemoryLastLoginStore();
    const first = await drain();
    assert.deepEqual(first.flushed, { empty: true, remaining: 0 });
    assert.equal(first.stats.sent, N);
    assert.equal(first.stats.droppedOverflow + first.stats.droppedRejected + first.stats.droppedCorrupt, 0);

    // The crash-after-OK case: the same events, same ids, sent again.
    await cp(copy, queueDir, { recursive: true });
    const second = await drain();
    assert.deepEqual(second.flushed, { empty: true, remaining: 0 });
    assert.equal(second.stats.sent, N);

    const rows = (await exportTelemetry(dir)).filter((r) => r.event === "crash.test" && r.data?.marker === marker);
    const seen = new Set(rows.map((r) => r.data.i));
    assert.deepEqual([...seen].sort((a, b) => a - b), Array.from({ length: N }, (_, i) => i), "every queued event reached the server");

    await t.test("each eventId is stored exactly once (server-side eventId deduplication, PROTOCOL 1.1)", (st) => {
      if (!rows.every((r) => "eventId" in r)) {
        st.skip("the server's telemetry export has no eventId field yet: it does not deduplicate by (license, eventId); every event was sent twice");
        return;
      }
      const counts = new Map();
      for (const r of rows) counts.set(r.eventId, (counts.get(r.eventId) ?? 0) + 1);
      assert.deepEqual([...counts.keys()].sort(), [...ids].sort());
      assert.ok([...counts.values()].every((c) => c === 1), "no event stored twice");
      assert.equal(rows.length, N);
    });

    await server.stop();
    await removeDir(dir);
    await removeDir(work);
  });
});
