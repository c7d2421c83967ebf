/**
 * Webhook signatures: `Skyline-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret,
 * t + "." + body)>`. Verify them on the raw body bytes, before parsing.
 */

import { createHmac } from "node:crypto";

import { buf, constantTimeEqual, fromHex } from "./protocol/bytes.js";

/** Options of {@link verifyWebhookSignature}. */
export interface WebhookVerifyOptions {
  /** Largest accepted distance between `t` and now, in seconds; default 300. */
  toleranceSeconds?: number;
  /** Now, in UNIX seconds; default the system clock. */
  now?: number;
}

/** The outcome: `ok` with the signed timestamp, or why not. */
export type WebhookVerification =
  | { ok: true; timestamp: number }
  | { ok: false; reason: "malformed" | "signature" | "timestamp" };

/** The header value for `body` signed at `t` (for tests and for senders). */
export function signWebhook(secret: string | Uint8Array, t: number, body: string | Uint8Array): string {
  const mac = createHmac("sha256", typeof secret === "string" ? secret : buf(secret));
  mac.update(`${t}.`);
  mac.update(typeof body === "string" ? body : buf(body));
  return `t=${t},v1=${mac.digest("hex")}`;
}

/**
 * Checks a `Skyline-Signature` header against the raw `body`: one of its `v1`
 * signatures must equal the HMAC (compared in constant time) and `t` must be
 * within `toleranceSeconds` of now (replay protection).
 */
export function verifyWebhookSignature(
  secret: string | Uint8Array,
  header: string | null | undefined,
  body: string | Uint8Array,
  options: WebhookVerifyOptions = {},
): WebhookVerification {
  if (typeof header !== "string") {
    return { ok: false, reason: "malformed" };
  }
  let t: number | null = null;
  const signatures: Uint8Array[] = [];
  for (const part of header.split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (key === "t" && /^\d{1,15}$/.test(value)) {
      t = Number(value);
    } else if (key === "v1" && /^[0-9a-fA-F]{64}$/.test(value)) {
      signatures.push(fromHex(value));
    }
  }
  if (t === null || signatures.length === 0) {
    return { ok: false, reason: "malformed" };
  }
  const expected = fromHex(signWebhook(secret, t, body).slice(`t=${t},v1=`.length));
  // Compare against every candidate, without stopping early.
  let match = false;
  for (const candidate of signatures) {
    match = constantTimeEqual(candidate, expected) || match;
  }
  if (!match) {
    return { ok: false, reason: "signature" };
  }
  const now = options.now ?? Math.floor(Date.now() / 1000);
  const tolerance = options.toleranceSeconds ?? 300;
  if (Math.abs(now - t) > tolerance) {
    return { ok: false, reason: "timestamp" };
  }
  return { ok: true, timestamp: t };
}
