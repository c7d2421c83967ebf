/**
 * Offline license files (PROTOCOL.md section 8): three lines,
 * `skyline-license-v1`, the base64 payload (UTF-8 JSON) and the base64
 * Ed25519 signature over `"skyline-license-v1\n"` + the payload's bytes.
 */

import { concat, fromBase64 } from "./protocol/bytes.js";
import { IdentityPublicKey } from "./protocol/keys.js";
import { isIsoDate, utcDay } from "./protocol/rules.js";

/** The first line of an offline license file. */
export const OFFLINE_LICENSE_HEADER = "skyline-license-v1";

/** The payload of an offline license file. Unknown keys are kept in `extra`. */
export interface OfflineLicense {
  product: string;
  plan: string;
  /** The last group of the license key. */
  keyLast: string;
  deviceSerialNumber: string;
  csProductUUID: string;
  /** UNIX seconds when it was issued. */
  issuedAt: number;
  /** `YYYY-MM-DD`: the file is valid through that day (UTC). */
  validUntil: string;
  expiryDate: string | null;
  toggles: Record<string, number | boolean | string>;
}

/** Why a file is refused. */
export type OfflineLicenseRefusal =
  | "malformed"
  | "signature"
  | "product-mismatch"
  | "device-mismatch"
  | "expired"
  | "clock-turned-back";

/** The outcome of {@link verifyOfflineLicense}. */
export type OfflineLicenseVerification =
  | {
      ok: true;
      license: OfflineLicense;
      /** The latest time seen, to persist and pass as `lastSeen` next time. */
      seen: number;
    }
  | { ok: false; reason: OfflineLicenseRefusal };

/** What the file must match: this app's product and this device. */
export interface OfflineLicenseExpectation {
  productId: string;
  deviceSerialNumber: string;
  csProductUUID: string;
}

function parsePayload(json: Uint8Array): OfflineLicense | null {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch {
    return null;
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
  const p = value as Record<string, unknown>;
  const strings = ["product", "plan", "keyLast", "deviceSerialNumber", "csProductUUID", "validUntil"] as const;
  if (strings.some((k) => typeof p[k] !== "string")) return null;
  if (!Number.isSafeInteger(p.issuedAt)) return null;
  if (!isIsoDate(p.validUntil as string)) return null;
  if (p.expiryDate !== null && p.expiryDate !== undefined && typeof p.expiryDate !== "string") return null;
  const toggles = p.toggles ?? {};
  if (toggles === null || typeof toggles !== "object" || Array.isArray(toggles)) return null;
  return {
    product: p.product as string,
    plan: p.plan as string,
    keyLast: p.keyLast as string,
    deviceSerialNumber: p.deviceSerialNumber as string,
    csProductUUID: p.csProductUUID as string,
    issuedAt: p.issuedAt as number,
    validUntil: p.validUntil as string,
    expiryDate: (p.expiryDate as string | null | undefined) ?? null,
    toggles: toggles as Record<string, number | boolean | string>,
  };
}

/**
 * Verifies an offline license file. It is accepted iff the signature
 * verifies with the pinned identity key, `product` and the device match
 * `expected`, today (UTC, from `now`) is not after `validUntil`, and the clock
 * does not read earlier than `issuedAt` or than `lastSeen`, the latest time
 * this app has already seen (a clock turned back). Persist the `seen` of an
 * accepted file and pass it as `lastSeen` next time.
 *
 * Line endings may be `\n` or `\r\n`; the signature covers the decoded payload
 * bytes, not the file's layout.
 */
export function verifyOfflineLicense(
  text: string,
  pinnedKey: string | Uint8Array | IdentityPublicKey,
  expected: OfflineLicenseExpectation,
  now: number | Date,
  lastSeen: number | null = null,
): OfflineLicenseVerification {
  const pinned = IdentityPublicKey.from(pinnedKey);
  const lines = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (lines[lines.length - 1] === "") lines.pop();
  if (lines.length !== 3 || lines[0] !== OFFLINE_LICENSE_HEADER) {
    return { ok: false, reason: "malformed" };
  }
  let payload: Uint8Array;
  let signature: Uint8Array;
  try {
    payload = fromBase64(lines[1] as string);
    signature = fromBase64(lines[2] as string);
  } catch {
    return { ok: false, reason: "malformed" };
  }
  const signed = concat(new TextEncoder().encode(`${OFFLINE_LICENSE_HEADER}\n`), payload);
  if (!pinned.verify(signed, signature)) {
    return { ok: false, reason: "signature" };
  }
  const license = parsePayload(payload);
  if (license === null) {
    return { ok: false, reason: "malformed" };
  }
  if (license.product !== expected.productId) {
    return { ok: false, reason: "product-mismatch" };
  }
  if (license.deviceSerialNumber !== expected.deviceSerialNumber || license.csProductUUID !== expected.csProductUUID) {
    return { ok: false, reason: "device-mismatch" };
  }
  const nowSeconds = typeof now === "number" ? Math.floor(now) : Math.floor(now.getTime() / 1000);
  if (nowSeconds < license.issuedAt || (lastSeen !== null && nowSeconds < lastSeen)) {
    return { ok: false, reason: "clock-turned-back" };
  }
  if (utcDay(nowSeconds) > license.validUntil) {
    return { ok: false, reason: "expired" };
  }
  return { ok: true, license, seen: Math.max(nowSeconds, lastSeen ?? 0) };
}
