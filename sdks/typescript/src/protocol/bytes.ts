/**
 * Byte helpers shared by the protocol modules: strict hex, concatenation and
 * a constant-time comparison.
 */

import { createHash, timingSafeEqual } from "node:crypto";

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** Bytes of a hex string (either case); throws on anything else. */
export function fromHex(hex: string): Uint8Array {
  if (!HEX.test(hex)) {
    throw new TypeError("not a hex string of whole bytes");
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/** Lowercase hex of `bytes`. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** `parts` one after the other, in a new array. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** A Buffer view of `bytes` (no copy), for node:crypto. */
export function buf(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Whether `a` and `b` are equal, in time that depends only on their lengths. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) {
    return false;
  }
  return timingSafeEqual(buf(a), buf(b));
}

/** Whether every byte is zero, without branching on the bytes. */
export function isAllZero(bytes: Uint8Array): boolean {
  let acc = 0;
  for (const b of bytes) {
    acc |= b;
  }
  return acc === 0;
}

/** Strict standard base64 (RFC 4648 alphabet, padded); throws on anything else. */
export function fromBase64(text: string): Uint8Array {
  if (text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw new TypeError("not padded standard base64");
  }
  const bytes = Buffer.from(text, "base64");
  // Non-canonical trailing bits would decode to the same bytes; refuse them.
  if (bytes.toString("base64") !== text) {
    throw new TypeError("not canonical base64");
  }
  return new Uint8Array(bytes);
}

/** SHA-256 of `data` (a string is hashed as UTF-8). */
export function sha256(data: Uint8Array | string): Uint8Array {
  return new Uint8Array(createHash("sha256").update(data).digest());
}
