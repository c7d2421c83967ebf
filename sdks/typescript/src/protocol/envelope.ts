/**
 * Requests and responses (PROTOCOL.md section 5): the plaintext inside every
 * frame after the handshake.
 */

import { ProtocolViolationError } from "../errors.js";
import { asMap, decode, encode, isInteger } from "./msgpack.js";

/** A request: `q` sequence number, `t` client time (UNIX seconds), `r` method, `s` session token, `d` payload. */
export interface Request {
  q: number;
  t: number;
  r: string;
  s: string | null;
  d: unknown;
}

/** A response: `q` of its request (null where the server could not read it), status `S`, message `e`, result `R`. */
export interface Response {
  q: number | null;
  S: string;
  e: string | null;
  R: unknown;
}

/** The MessagePack plaintext of a request, keys in the order q, t, r, s, d. */
export function encodeRequest(request: Request): Uint8Array {
  return encode({ q: request.q, t: request.t, r: request.r, s: request.s, d: request.d ?? null });
}

/** The MessagePack plaintext of a response (the server's side; for tests and tools). */
export function encodeResponse(response: Response): Uint8Array {
  return encode({ q: response.q, S: response.S, e: response.e, R: response.R ?? null });
}

/** Reads a response; anything that is not one is a {@link ProtocolViolationError}. */
export function decodeResponse(plaintext: Uint8Array): Response {
  let value: unknown;
  try {
    value = decode(plaintext);
  } catch (e) {
    throw new ProtocolViolationError(`a response is not MessagePack (${(e as Error).message})`);
  }
  const map = asMap(value);
  if (map === null) {
    throw new ProtocolViolationError("a response is not a map");
  }
  const { q, S, e, R } = map;
  if (q !== undefined && q !== null && !(isInteger(q) && q >= 0)) {
    throw new ProtocolViolationError("response field `q` is not an unsigned integer");
  }
  if (typeof S !== "string") {
    throw new ProtocolViolationError("response field `S` is not a string");
  }
  if (e !== undefined && e !== null && typeof e !== "string") {
    throw new ProtocolViolationError("response field `e` is not a string");
  }
  return { q: q ?? null, S, e: e ?? null, R: R ?? null };
}
