#!/usr/bin/env node
// Calls per second through the SDK against a running Skyline server:
// get-feature-toggles lock-step and pipelined, and telemetry events queued
// (durably, on disk) and drained by the queue. Prints the median of --runs runs.
//
//   node bench/calls.mjs --url ws://127.0.0.1:7700/ws --identity-public HEX \
//     --product telepower --product-version 7.0.3 --key KEY
//   node bench/calls.mjs --self-host     # starts `skyline serve` in a temp dir
//
// Options: --runs 3, --calls 2000 (lock-step), --pipelined-calls 20000,
// --in-flight 32, --events 2000; --json prints every run's figures as one
// JSON object on stdout (bench/run.py reads it).
import { spawn, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { Client, MemoryLastLoginStore } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    "identity-public": { type: "string" },
    product: { type: "string", default: "telepower" },
    "product-version": { type: "string", default: "7.0.3" },
    key: { type: "string" },
    "self-host": { type: "boolean", default: false },
    runs: { type: "string", default: "3" },
    calls: { type: "string", default: "2000" },
    "pipelined-calls": { type: "string", default: "20000" },
    "in-flight": { type: "string", default: "32" },
    events: { type: "string", default: "2000" },
    json: { type: "boolean", default: false },
  },
});
const runs = Number(values.runs);
const inFlight = Number(values["in-flight"]);
const device = { deviceSerialNumber: `BENCH-${process.pid}`, csProductUUID: `BENCH-UUID-${process.pid}` };

/** @type {{ url: string, identityPublicKey: string, licenseKey: string, stop: () => Promise<void> }} */
let target;
if (values["self-host"]) {
  target = await selfHost();
} else {
  if (!values.url || !values["identity-public"] || !values.key) {
    console.error("pass --url, --identity-public and --key, or --self-host");
    process.exit(2);
  }
  target = { url: values.url, identityPublicKey: values["identity-public"], licenseKey: values.key, stop: async () => undefined };
}

const store = new MemoryLastLoginStore();
/** @param {object} extra */
async function session(extra = {}) {
  const client = new Client(target.url, { identityPublicKey: target.identityPublicKey, device, lastLoginStore: store, requestTimeoutMs: 120_000, ...extra });
  await client.startSession({ productId: values.product ?? "telepower", productVersion: values["product-version"] ?? "7.0.3", licenseKey: target.licenseKey });
  return client;
}

/** @param {number[]} xs */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;

async function lockStep() {
  const client = await session();
  const n = Number(values.calls);
  const started = performance.now();
  for (let i = 0; i < n; i++) await client.getFeatureToggles();
  const rate = n / ((performance.now() - started) / 1000);
  await client.close();
  return rate;
}

async function pipelined() {
  const client = await session();
  const n = Number(values["pipelined-calls"]);
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next++ < n) await client.getFeatureToggles();
    }),
  );
  const rate = n / ((performance.now() - started) / 1000);
  await client.close();
  return rate;
}

async function queue() {
  const dir = await mkdtemp(join(tmpdir(), "skyline-bench-queue-"));
  const client = new Client(target.url, {
    identityPublicKey: target.identityPublicKey,
    device,
    lastLoginStore: store,
    requestTimeoutMs: 120_000,
    telemetryQueue: { dir, inFlight, maxEvents: 1_000_000, maxBytes: 1 << 30 },
  });
  const n = Number(values.events);
  let started = performance.now();
  for (let i = 0; i < n; i++) await client.sendTelemetryEvent({ event: "bench.event", data: { i, screen: "/account-manager" } });
  const enqueued = n / ((performance.now() - started) / 1000);
  started = performance.now();
  await client.startSession({ productId: values.product ?? "telepower", productVersion: values["product-version"] ?? "7.0.3", licenseKey: target.licenseKey });
  const flushed = await client.flush({ timeoutMs: 600_000 });
  const drained = n / ((performance.now() - started) / 1000);
  if (!flushed.empty) throw new Error(`the queue did not drain: ${flushed.remaining} left`);
  await client.close();
  await rm(dir, { recursive: true, force: true });
  return { enqueued, drained };
}

const results = { lockStep: /** @type {number[]} */ ([]), pipelined: /** @type {number[]} */ ([]), enqueued: /** @type {number[]} */ ([]), drained: /** @type {number[]} */ ([]) };
try {
  for (let run = 0; run < runs; run++) {
    results.lockStep.push(await lockStep());
    results.pipelined.push(await pipelined());
    const q = await queue();
    results.enqueued.push(q.enqueued);
    results.drained.push(q.drained);
    console.error(`run ${run + 1}/${runs}: lock-step ${results.lockStep.at(-1)?.toFixed(0)}/s, pipelined ${results.pipelined.at(-1)?.toFixed(0)}/s, queued ${q.enqueued.toFixed(0)}/s, drained ${q.drained.toFixed(0)}/s`);
  }
} finally {
  await target.stop();
}
if (values.json) {
  console.log(JSON.stringify({ node: process.version, inFlight, ...results }));
  process.exit(0);
}
console.log(`median of ${runs} runs (Node ${process.version}):`);
console.log(`  get-feature-toggles, lock-step:          ${median(results.lockStep).toFixed(0)} calls/s`);
console.log(`  get-feature-toggles, ${inFlight} in flight:      ${median(results.pipelined).toFixed(0)} calls/s`);
console.log(`  telemetry queue, enqueue (fsync each):   ${median(results.enqueued).toFixed(0)} events/s`);
console.log(`  telemetry queue, drained to the server:  ${median(results.drained).toFixed(0)} events/s`);

/** Starts `skyline serve` on a temporary data directory with one product, plan and key. */
async function selfHost() {
  const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
  const bin = [process.env.SKYLINE_BIN, join(repo, "target", "release", "skyline"), join(repo, "target", "debug", "skyline")].find((p) => p && existsSync(p));
  if (!bin) throw new Error("no skyline binary: cargo build --release -p skyline, or set SKYLINE_BIN");
  const dataDir = await mkdtemp(join(tmpdir(), "skyline-bench-"));
  /** @param {string[]} args */
  const cli = (...args) => execFileSync(bin, ["--data-dir", dataDir, ...args], { encoding: "utf8" });
  cli("product", "create", "telepower", "--min-version", "7.0.0");
  cli("plan", "create", "P", "--product", "telepower", "--months", "1");
  const licenseKey = cli("license", "create", "--plan", "P").trim().split("\n").pop()?.trim() ?? "";
  cli("toggle", "set", "engine.limits.sendMessage.dailyLimit", "150", "--product", "telepower");
  const child = spawn(bin, ["--data-dir", dataDir, "serve", "--listen", "127.0.0.1:0", "--admin-listen", "off", "--handshakes-per-second", "0", "--max-connections", "1000", "--log", "warn"], { stdio: ["ignore", "pipe", "inherit"] });
  const banner = await new Promise((resolveBanner) => {
    /** @type {Record<string, string>} */
    const found = {};
    createInterface({ input: /** @type {import("node:stream").Readable} */ (child.stdout) }).on("line", (line) => {
      if (line.startsWith("Skyline is listening on ")) found.url = line.slice(24).trim();
      if (line.startsWith("Identity public key: ")) found.key = line.slice(21).trim();
      if (found.url && found.key) resolveBanner(found);
    });
  });
  return {
    url: banner.url,
    identityPublicKey: banner.key,
    licenseKey,
    stop: async () => {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await exited;
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
