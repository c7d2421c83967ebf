/**
 * `check-update` (PROTOCOL.md section 6, 1.1): should this device install
 * another release? The answer carries the release signature of section 7,
 * which {@link downloadUpdate} checks before keeping the file.
 */

import { ProtocolViolationError } from "../errors.js";
import { asMap, isInteger } from "../protocol/msgpack.js";

/** The method name. */
export const CHECK_UPDATE = "check-update";

/** Release channels, most stable first: a `beta` client is offered `beta` and `stable` releases. */
export const UPDATE_CHANNELS = ["stable", "beta", "alpha", "dev"] as const;
/** A release channel. */
export type UpdateChannel = (typeof UPDATE_CHANNELS)[number];

const PLATFORM = /^[a-z0-9_-]{1,32}$/;

/** The request: both optional (default channel `stable`, no platform). */
export interface CheckUpdateRequest {
  channel?: UpdateChannel;
  /** e.g. `windows-x64`, `macos-arm64`, `linux-x64`: 1..32 characters of `a-z 0-9 _ -`. */
  platform?: string;
}

/** The payload map, with only the keys given; throws a TypeError for a value the server would refuse. */
export function encodeCheckUpdate(request: CheckUpdateRequest = {}): Record<string, unknown> {
  const d: Record<string, unknown> = {};
  if (request.channel !== undefined) {
    if (!(UPDATE_CHANNELS as readonly string[]).includes(request.channel)) {
      throw new TypeError(`check-update: channel must be one of ${UPDATE_CHANNELS.join(", ")}`);
    }
    d.channel = request.channel;
  }
  if (request.platform !== undefined) {
    if (!PLATFORM.test(request.platform)) {
      throw new TypeError("check-update: platform must be 1..32 characters of a-z 0-9 _ -");
    }
    d.platform = request.platform;
  }
  return d;
}

/** A release the server offers (the `R` of `check-update`). */
export interface UpdateOffer {
  version: string;
  channel: string;
  /** The release's platform; null for a release that serves every platform. */
  platform: string | null;
  /** Install it before going on. */
  mandatory: boolean;
  /** Older than the installed version, offered because that one was withdrawn with rollback. */
  rollback: boolean;
  size: number;
  /** 64 lowercase hex characters. */
  sha256: string;
  /** Ed25519 signature of the release manifest (PROTOCOL.md section 7), 64 bytes. */
  signature: Uint8Array;
  /** Where to download it: a path on the server (`/download/...`) or an absolute http(s) URL. */
  url: string;
  notes: string | null;
  publishedAt: string | null;
}

/**
 * An offer as {@link Client.checkUpdate} returns it: with the session's
 * product and version, which {@link downloadUpdate} needs to rebuild the
 * signed manifest and to refuse a downgrade.
 */
export interface CheckUpdateResult extends UpdateOffer {
  productId: string;
  installedVersion: string;
}

function bad(key: string, what: string): never {
  throw new ProtocolViolationError(`check-update result: field \`${key}\` is not ${what}`);
}

/** Reads the `R` of `check-update`: null when there is nothing to install. Unknown keys are ignored. */
export function decodeCheckUpdate(result: unknown): UpdateOffer | null {
  if (result === null || result === undefined) {
    return null;
  }
  const r = asMap(result);
  if (r === null) {
    throw new ProtocolViolationError("check-update result is not a map or nil");
  }
  const str = (key: string): string => (typeof r[key] === "string" ? (r[key] as string) : bad(key, "a string"));
  const optStr = (key: string): string | null => {
    const v = r[key];
    return v === undefined || v === null ? null : typeof v === "string" ? v : bad(key, "a string or nil");
  };
  const bool = (key: string): boolean => {
    const v = r[key];
    return v === undefined || v === null ? false : typeof v === "boolean" ? v : bad(key, "a boolean");
  };
  const size = r.size;
  if (!isInteger(size) || size < 0) {
    bad("size", "an unsigned integer");
  }
  const sha256 = str("sha256");
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    bad("sha256", "64 lowercase hex characters");
  }
  const signature = r.signature;
  if (!(signature instanceof Uint8Array) || signature.length !== 64) {
    bad("signature", "64 bytes of bin");
  }
  const platform = optStr("platform");
  return {
    version: str("version"),
    channel: str("channel"),
    platform: platform === "" ? null : platform,
    mandatory: bool("mandatory"),
    rollback: bool("rollback"),
    size,
    sha256,
    signature,
    url: str("url"),
    notes: optStr("notes"),
    publishedAt: optStr("publishedAt"),
  };
}
