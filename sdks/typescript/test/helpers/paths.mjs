// Paths the tests share: the package, the repository, the vectors.
import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const TEST_DIR = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const PACKAGE_DIR = resolve(TEST_DIR, "..");
export const REPO_DIR = resolve(PACKAGE_DIR, "..", "..");
export const VECTORS_DIR = join(TEST_DIR, "vectors");
export const FIXTURES_DIR = join(TEST_DIR, "fixtures");

/** A vector file from test/vectors, parsed. */
export function vectors(name) {
  return JSON.parse(readFileSync(join(VECTORS_DIR, name), "utf8"));
}

/** Bytes of a hex string. */
export function hex(text) {
  return new Uint8Array(Buffer.from(text, "hex"));
}
