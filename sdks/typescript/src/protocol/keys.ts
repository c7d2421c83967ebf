/**
 * Raw 32-byte X25519 and Ed25519 keys as node:crypto key objects (DER
 * wrappers of RFC 8410), and [`IdentityPublicKey`], the server identity key
 * an app pins (PROTOCOL.md section 3).
 */

import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  verify,
  type KeyObject,
} from "node:crypto";
import { inspect } from "node:util";

import { buf, concat, fromHex, isAllZero, toHex } from "./bytes.js";

const X25519_PKCS8_PREFIX = fromHex("302e020100300506032b656e04220420");
const X25519_SPKI_PREFIX = fromHex("302a300506032b656e032100");
const ED25519_PKCS8_PREFIX = fromHex("302e020100300506032b657004220420");
const ED25519_SPKI_PREFIX = fromHex("302a300506032b6570032100");

function checkLength(bytes: Uint8Array, length: number, what: string): void {
  if (bytes.length !== length) {
    throw new TypeError(`${what} must be ${length} bytes, got ${bytes.length}`);
  }
}

/** An ephemeral X25519 key pair (handshake step 1), used once. */
export class EphemeralKeyPair {
  readonly #private: KeyObject;
  /** The raw 32-byte public key. */
  readonly publicKey: Uint8Array;

  private constructor(privateKey: KeyObject) {
    this.#private = privateKey;
    const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
    this.publicKey = new Uint8Array(spki.subarray(spki.length - 32));
  }

  /** A fresh key pair from the system CSPRNG. */
  static generate(): EphemeralKeyPair {
    return new EphemeralKeyPair(generateKeyPairSync("x25519").privateKey);
  }

  /** The key pair of a fixed private key (test vectors only). */
  static fromPrivate(raw: Uint8Array): EphemeralKeyPair {
    checkLength(raw, 32, "an X25519 private key");
    return new EphemeralKeyPair(
      createPrivateKey({ key: buf(concat(X25519_PKCS8_PREFIX, raw)), format: "der", type: "pkcs8" }),
    );
  }

  /**
   * X25519 with the peer's public key, or null when the result is all zero
   * (a low-order peer key, PROTOCOL.md section 3 step 4) or the key is unusable.
   */
  agree(peerPublic: Uint8Array): Uint8Array | null {
    checkLength(peerPublic, 32, "an X25519 public key");
    let shared: Uint8Array;
    try {
      const publicKey = createPublicKey({
        key: buf(concat(X25519_SPKI_PREFIX, peerPublic)),
        format: "der",
        type: "spki",
      });
      shared = new Uint8Array(diffieHellman({ privateKey: this.#private, publicKey }));
    } catch {
      // OpenSSL refuses an all-zero result itself.
      return null;
    }
    return isAllZero(shared) ? null : shared;
  }

  [inspect.custom](): string {
    return `EphemeralKeyPair { publicKey: ${toHex(this.publicKey)} }`;
  }
}

/**
 * The server's Ed25519 identity public key, 32 bytes, shipped inside the app
 * (PROTOCOL.md section 3: the trust anchor).
 */
export class IdentityPublicKey {
  readonly #raw: Uint8Array;
  readonly #key: KeyObject;

  private constructor(raw: Uint8Array) {
    this.#raw = raw;
    this.#key = createPublicKey({
      key: buf(concat(ED25519_SPKI_PREFIX, raw)),
      format: "der",
      type: "spki",
    });
  }

  /** From 64 hex characters, 32 raw bytes, or another IdentityPublicKey. */
  static from(key: string | Uint8Array | IdentityPublicKey): IdentityPublicKey {
    if (key instanceof IdentityPublicKey) {
      return key;
    }
    const raw = typeof key === "string" ? fromHex(key.trim()) : new Uint8Array(key);
    checkLength(raw, 32, "an Ed25519 identity public key");
    return new IdentityPublicKey(raw);
  }

  /** The 32 raw bytes. */
  get bytes(): Uint8Array {
    return new Uint8Array(this.#raw);
  }

  /** 64 lowercase hex characters. */
  toHex(): string {
    return toHex(this.#raw);
  }

  toString(): string {
    return this.toHex();
  }

  /** Whether `signature` is this key's pure Ed25519 (RFC 8032) signature of `message`. */
  verify(message: Uint8Array, signature: Uint8Array): boolean {
    if (signature.length !== 64) {
      return false;
    }
    try {
      return verify(null, buf(message), this.#key, buf(signature));
    } catch {
      return false;
    }
  }

  [inspect.custom](): string {
    return `IdentityPublicKey(${this.toHex()})`;
  }
}

/** An Ed25519 signing key from its 32-byte RFC 8032 seed (tests and tools). */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  checkLength(seed, 32, "an Ed25519 seed");
  return createPrivateKey({
    key: buf(concat(ED25519_PKCS8_PREFIX, seed)),
    format: "der",
    type: "pkcs8",
  });
}

/** The raw 32-byte public key of an Ed25519 private key object. */
export function ed25519PublicRaw(privateKey: KeyObject): Uint8Array {
  const spki = createPublicKey(privateKey).export({ type: "spki", format: "der" });
  return new Uint8Array(spki.subarray(spki.length - 32));
}
