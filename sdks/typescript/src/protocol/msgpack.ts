/**
 * MessagePack (PROTOCOL.md section 2) through `@msgpack/msgpack`: maps keep
 * their insertion order, byte strings are `bin`, integers take the smallest
 * width, `undefined` map values are left out. Decoding refuses trailing bytes.
 */

import { Decoder, Encoder } from "@msgpack/msgpack";

const encoder = new Encoder({ ignoreUndefined: true });
const decoder = new Decoder();

/** The MessagePack bytes of `value`. */
export function encode(value: unknown): Uint8Array {
  // `encode` returns a view into the encoder's buffer: copy it out.
  return encoder.encode(value).slice();
}

/** The value of exactly one MessagePack object in `bytes`; throws on anything else. */
export function decode(bytes: Uint8Array): unknown {
  return decoder.decode(bytes);
}

/** A decoded map as a plain object, or null when `value` is not a map. */
export function asMap(value: unknown): Record<string, unknown> | null {
  if (value === null || typeof value !== "object") {
    return null;
  }
  if (Array.isArray(value) || value instanceof Uint8Array) {
    return null;
  }
  return value as Record<string, unknown>;
}

/** Whether `value` is a MessagePack integer (as decoded: a safe integer). */
export function isInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value);
}
