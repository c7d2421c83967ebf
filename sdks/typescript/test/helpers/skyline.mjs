// The real server for interop tests: finds the `skyline` binary, runs
// operator commands, and starts `skyline serve` on 127.0.0.1 with a port the
// OS chooses, reading the address and the identity key from its banner.
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";

import { REPO_DIR } from "./paths.mjs";

/** The binary: $SKYLINE_BIN, else <repo>/target/release/skyline, else <repo>/target/debug/skyline. */
export function skylineBin() {
  const candidates = [process.env.SKYLINE_BIN, join(REPO_DIR, "target", "release", "skyline"), join(REPO_DIR, "target", "debug", "skyline")];
  for (const candidate of candidates) {
    if (candidate && existsSync(candidate)) return candidate;
  }
  throw new Error("no skyline binary: build it with `cargo build --release -p skyline` at the repository root, or set SKYLINE_BIN");
}

function cleanEnv() {
  const env = { ...process.env };
  for (const name of Object.keys(env)) {
    if (name.startsWith("SKYLINE_")) delete env[name];
  }
  return env;
}

/** Runs `skyline --data-dir DIR ARGS...`; resolves { code, stdout, stderr }. */
export function run(dataDir, ...args) {
  return new Promise((resolve, reject) => {
    execFile(skylineBin(), ["--data-dir", dataDir, ...args], { env: cleanEnv(), maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== "number") {
        reject(error);
        return;
      }
      resolve({ code: error ? error.code : 0, stdout, stderr });
    });
  });
}

/** Runs a command that must succeed; resolves its stdout. */
export async function ok(dataDir, ...args) {
  const result = await run(dataDir, ...args);
  if (result.code !== 0) {
    throw new Error(`skyline ${args.join(" ")} failed (${result.code}): ${result.stderr}`);
  }
  return result.stdout;
}

/** A new temporary data directory. */
export function tempDir(prefix = "skyline-ts-") {
  return mkdtemp(join(tmpdir(), prefix));
}

/** `product create`, `plan create` and one `license create`; resolves the key. */
export async function catalogue(dataDir, { product = "telepower", minVersion = "7.0.0", plan = "P", months = 1, devices = 1 } = {}) {
  // The server's identity key, as `skyline keygen` writes it: operator
  // commands never create one, and `release publish` signs with it.
  const { existsSync } = await import("node:fs");
  const { join } = await import("node:path");
  const identity = join(dataDir, "identity.key");
  if (!existsSync(identity)) {
    await ok(dataDir, "keygen", "--out", identity);
  }
  await ok(dataDir, "product", "create", product, "--min-version", minVersion);
  await ok(dataDir, "plan", "create", plan, "--product", product, "--months", String(months), "--devices", String(devices));
  return newKey(dataDir, plan);
}

/** One more license key of `plan`. */
export async function newKey(dataDir, plan = "P") {
  const out = await ok(dataDir, "license", "create", "--plan", plan);
  return out.trim().split("\n").pop().trim();
}

/** The product's telemetry as exported (JSON lines), parsed. */
export async function exportTelemetry(dataDir, product = "telepower") {
  const out = await ok(dataDir, "telemetry", "export", "--product", product);
  return out.split("\n").filter((l) => l.trim().length > 0).map((l) => JSON.parse(l));
}

const BANNER_WAIT_MS = 120_000;

/** `skyline serve` as a child process. */
export class SkylineServer {
  constructor(child, url, identityPublicKey, dataDir, listen) {
    this.child = child;
    this.url = url;
    this.identityPublicKey = identityPublicKey;
    this.dataDir = dataDir;
    this.listen = listen;
    this.stderr = "";
    child.stderr.on("data", (d) => {
      this.stderr += d.toString();
    });
    this.exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  }

  /** Starts `skyline serve` on `listen` (default 127.0.0.1:0) and waits for its banner. */
  static start(dataDir, { listen = "127.0.0.1:0", extraArgs = [] } = {}) {
    const child = spawn(
      skylineBin(),
      [
        "--data-dir", dataDir, "serve",
        "--listen", listen,
        "--admin-listen", "off",
        "--handshakes-per-second", "0",
        "--failed-keys-per-minute", "0",
        "--toggle-cache-ms", "0",
        "--max-connections", "1000",
        "--log", "warn",
        ...extraArgs,
      ],
      { env: cleanEnv(), stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.on("data", (d) => {
      stderr += d.toString();
    });
    return new Promise((resolve, reject) => {
      let url = null;
      let key = null;
      const lines = createInterface({ input: child.stdout });
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`skyline serve printed no banner; stderr:\n${stderr}`));
      }, BANNER_WAIT_MS);
      child.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`skyline serve exited (${code}) before its banner; stderr:\n${stderr}`));
      });
      lines.on("line", (line) => {
        if (line.startsWith("Skyline is listening on ")) url = line.slice("Skyline is listening on ".length).trim();
        if (line.startsWith("Identity public key: ")) key = line.slice("Identity public key: ".length).trim();
        if (url !== null && key !== null) {
          clearTimeout(timer);
          child.removeAllListeners("exit");
          const hostPort = new URL(url).host;
          resolve(new SkylineServer(child, url, key, dataDir, hostPort));
        }
      });
    });
  }

  /** Stops it with SIGTERM (a graceful shutdown: connections get close 1001) and waits for it to exit. */
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
    }
    const killer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
    await this.exited;
    clearTimeout(killer);
  }

  /** The same data directory and address, after {@link stop}. */
  restart(extraArgs = []) {
    return SkylineServer.start(this.dataDir, { listen: this.listen, extraArgs });
  }
}

/** Removes a temporary directory. */
export function removeDir(dir) {
  return rm(dir, { recursive: true, force: true });
}
