/**
 * Last-login persistence. `start-session` must carry the `t` of this device's
 * previous OK `start-session` (PROTOCOL.md section 6 step 7); a wrong value is
 * `INTEGRITY_BREACH` code `LL` and locks the device. {@link Client} reads and
 * writes it through a {@link LastLoginStore}, so the application never does.
 */

import { mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";

import { writeFileAtomic } from "./atomic-file.js";
import { SkylineError } from "./errors.js";
import { sha256, toHex } from "./protocol/bytes.js";
import { normalizeLicenseKey } from "./protocol/rules.js";

/** Whose last login: one product, one license key, one device. */
export interface LastLoginKey {
  productId: string;
  /** As typed; normalized before use, so case, spaces and dashes do not matter. */
  licenseKey: string;
  deviceSerialNumber: string;
  csProductUUID: string;
}

/** Where last logins are kept. `get` gives null when none is recorded. */
export interface LastLoginStore {
  get(key: LastLoginKey): Promise<number | null>;
  set(key: LastLoginKey, t: number): Promise<void>;
}

/**
 * The record's name: SHA-256 over the product, the normalized key and the
 * device, so the file never holds a license key.
 */
export function lastLoginId(key: LastLoginKey): string {
  const licenseKey = normalizeLicenseKey(key.licenseKey) ?? key.licenseKey;
  const text = ["skyline-last-login-v1", key.productId, licenseKey, key.deviceSerialNumber, key.csProductUUID].join("\n");
  return toHex(sha256(text));
}

/** Kept in memory only: the value is lost when the process ends. For tests and short-lived tools. */
export class MemoryLastLoginStore implements LastLoginStore {
  readonly #logins = new Map<string, number>();

  async get(key: LastLoginKey): Promise<number | null> {
    return this.#logins.get(lastLoginId(key)) ?? null;
  }

  async set(key: LastLoginKey, t: number): Promise<void> {
    this.#logins.set(lastLoginId(key), t);
  }
}

/** The last-login file cannot be read as one. */
export class LastLoginStoreError extends SkylineError {}

interface LastLoginFile {
  version: 1;
  logins: Record<string, number>;
}

/** Writes to one file are serialized within the process. */
const fileLocks = new Map<string, Promise<unknown>>();

function serialized<T>(path: string, work: () => Promise<T>): Promise<T> {
  const previous = fileLocks.get(path) ?? Promise.resolve();
  const next = previous.then(work, work);
  const tail = next.catch(() => undefined);
  fileLocks.set(path, tail);
  void tail.then(() => {
    if (fileLocks.get(path) === tail) fileLocks.delete(path);
  });
  return next;
}

/**
 * A JSON file, `{"version": 1, "logins": {"<id>": t}}`, replaced atomically
 * on every change (temp file + fsync + rename). A file that exists but cannot
 * be read is an error, never "no last login": sending nil for a device the
 * server knows would lock it.
 */
export class FileLastLoginStore implements LastLoginStore {
  readonly path: string;

  constructor(path: string) {
    this.path = path;
  }

  async get(key: LastLoginKey): Promise<number | null> {
    const file = await this.#read();
    return file.logins[lastLoginId(key)] ?? null;
  }

  set(key: LastLoginKey, t: number): Promise<void> {
    return serialized(this.path, async () => {
      const file = await this.#read();
      file.logins[lastLoginId(key)] = t;
      await mkdir(dirname(this.path), { recursive: true });
      await writeFileAtomic(this.path, JSON.stringify(file) + "\n");
    });
  }

  async #read(): Promise<LastLoginFile> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        return { version: 1, logins: {} };
      }
      throw new LastLoginStoreError(`cannot read ${this.path}: ${(e as Error).message}`, { cause: e });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new LastLoginStoreError(`${this.path} is not JSON`, { cause: e });
    }
    const file = parsed as Partial<LastLoginFile> | null;
    if (file === null || file.version !== 1 || typeof file.logins !== "object" || file.logins === null) {
      throw new LastLoginStoreError(`${this.path} is not a last-login file`);
    }
    for (const value of Object.values(file.logins)) {
      if (!Number.isSafeInteger(value)) {
        throw new LastLoginStoreError(`${this.path} holds a last login that is not an integer`);
      }
    }
    return { version: 1, logins: { ...file.logins } };
  }
}
