/** `start-session` (PROTOCOL.md section 6): activate or validate a license key. */

import { ProtocolViolationError } from "../errors.js";
import { asMap } from "../protocol/msgpack.js";

/** The method name. */
export const START_SESSION = "start-session";

/** The device a license is bound to (PROTOCOL.md section 6 step 6). */
export interface DeviceIds {
  /** 1..128 characters. */
  deviceSerialNumber: string;
  /** 1..128 characters. */
  csProductUUID: string;
}

/** The `d` of `start-session`, as sent. */
export interface StartSessionPayload extends DeviceIds {
  productId: string;
  productVersion: string;
  /** `russian`/`ru` or `english`/`en`; anything else means English. */
  language: string | null;
  /** The `t` of this device's last OK `start-session`; null on its first start. */
  lastLoginReportedByClient: number | null;
  /** As the user typed it; the server normalizes case, spaces and dashes. */
  licenseKey: string;
}

/** The payload map, keys in the order PROTOCOL.md lists them. */
export function encodeStartSession(p: StartSessionPayload): Record<string, unknown> {
  return {
    productId: p.productId,
    productVersion: p.productVersion,
    language: p.language,
    lastLoginReportedByClient: p.lastLoginReportedByClient,
    deviceSerialNumber: p.deviceSerialNumber,
    csProductUUID: p.csProductUUID,
    licenseKey: p.licenseKey,
  };
}

/** The `R` of an OK `start-session`. */
export interface StartSessionAnswer {
  /** Whether this request activated the key. */
  isActivatedNow: boolean;
  /** `YYYY-MM-DD` (UTC) of the first activation. */
  activationDate: string;
  /** The plan's identifier, e.g. `telepower.licensePlan.release.monthly`. */
  licensePlan: string;
  /** `YYYY-MM-DD`, or null for a perpetual plan. */
  expiryDate: string | null;
  /** 1.2: the last day of a grace period after `expiryDate`; show a warning while it is there. */
  graceUntil: string | null;
  /** The session token for every later request. */
  sessionToken: string;
}

function field<T>(map: Record<string, unknown>, key: string, ok: (v: unknown) => v is T, what: string): T {
  const value = map[key];
  if (!ok(value)) {
    throw new ProtocolViolationError(`start-session result: field \`${key}\` is not ${what}`);
  }
  return value;
}

const isString = (v: unknown): v is string => typeof v === "string";
const isBool = (v: unknown): v is boolean => typeof v === "boolean";
const isOptString = (v: unknown): v is string | null | undefined => v === undefined || v === null || typeof v === "string";

/** Reads the `R` of an OK `start-session`; unknown keys are ignored. */
export function decodeStartSessionAnswer(result: unknown): StartSessionAnswer {
  const r = asMap(result);
  if (r === null) {
    throw new ProtocolViolationError("start-session result is not a map");
  }
  const sessionToken = field(r, "sessionToken", isString, "a string");
  if (sessionToken.length === 0) {
    throw new ProtocolViolationError("start-session result: empty session token");
  }
  return {
    isActivatedNow: field(r, "isActivatedNow", isBool, "a boolean"),
    activationDate: field(r, "activationDate", isString, "a string"),
    licensePlan: field(r, "licensePlan", isString, "a string"),
    expiryDate: field(r, "expiryDate", isOptString, "a string or nil") ?? null,
    graceUntil: field(r, "graceUntil", isOptString, "a string or nil") ?? null,
    sessionToken,
  };
}
