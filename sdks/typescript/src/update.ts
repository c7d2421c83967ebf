/**
 * Updates (PROTOCOL.md section 7): the signed release manifest, and
 * {@link downloadUpdate}, which fetches the release a `check-update` answer
 * offers, resumes a broken download, and keeps the file only once its size,
 * SHA-256 and manifest signature verify against the pinned identity key.
 */

import { createHash } from "node:crypto";
import { request as httpRequest, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { mkdir, open, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { rootCertificates } from "node:tls";

import { fsyncDir } from "./atomic-file.js";
import { SkylineError } from "./errors.js";
import type { UpdateOffer } from "./methods/check-update.js";
import { IdentityPublicKey } from "./protocol/keys.js";
import { compareVersions } from "./protocol/rules.js";

/** The first line of a release manifest. */
export const RELEASE_MANIFEST_HEADER = "skyline-release-v1";

/** What the release signature binds together. */
export interface ReleaseManifestFields {
  productId: string;
  version: string;
  channel: string;
  /** null or "" for a release that serves every platform. */
  platform: string | null;
  size: number;
  /** 64 lowercase hex characters. */
  sha256: string;
}

/** The UTF-8 release manifest: seven lines, each ending in `\n`. */
export function releaseManifest(f: ReleaseManifestFields): string {
  return [RELEASE_MANIFEST_HEADER, f.productId, f.version, f.channel, f.platform ?? "", String(f.size), f.sha256.toLowerCase()]
    .map((line) => `${line}\n`)
    .join("");
}

/** Whether `signature` is the identity key's Ed25519 signature of the release's manifest. */
export function verifyReleaseSignature(
  fields: ReleaseManifestFields,
  signature: Uint8Array,
  pinnedKey: string | Uint8Array | IdentityPublicKey,
): boolean {
  return IdentityPublicKey.from(pinnedKey).verify(new TextEncoder().encode(releaseManifest(fields)), signature);
}

/** Why a download was refused or not kept. Whenever bytes were downloaded and did not verify, they were deleted. */
export class UpdateVerificationError extends SkylineError {
  readonly reason: "signature" | "downgrade" | "size" | "sha256";
  constructor(reason: UpdateVerificationError["reason"], message: string) {
    super(message);
    this.reason = reason;
  }
}

/** The server answered the download with an HTTP error, or the transfer broke. */
export class UpdateDownloadError extends SkylineError {
  /** The HTTP status, or null when the connection failed. */
  readonly httpStatus: number | null;
  constructor(message: string, httpStatus: number | null, options?: { cause?: unknown }) {
    super(message, options);
    this.httpStatus = httpStatus;
  }
}

/** Options of {@link downloadUpdate}. */
export interface DownloadUpdateOptions {
  /** The server: `https://host[:port][/prefix]`; the RPC URL works too (`wss://host/ws` means `https://host`). */
  baseUrl: string;
  /** The pinned identity key. */
  identityPublicKey: string | Uint8Array | IdentityPublicKey;
  /** Where to keep the verified file. A partial download lives beside it until it verifies. */
  dest: string;
  /** The product; default the offer's (as {@link Client.checkUpdate} gives it). */
  productId?: string;
  /** The installed version; default the offer's. An older release is refused unless the offer says `rollback`. */
  installedVersion?: string;
  /** Extra PEM CA certificates for https, on top of Node's roots. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Longest silence on the connection, in ms; default 30 000. */
  timeoutMs?: number;
  /** Called as bytes arrive. */
  onProgress?: (received: number, total: number) => void;
}

/** A downloaded, verified release. */
export interface DownloadedUpdate {
  path: string;
  version: string;
  size: number;
  sha256: string;
  /** Bytes kept from an earlier, broken download (0 for a fresh one). */
  resumedFrom: number;
}

/** The download URL: the offer's absolute http(s) URL, or its path under `baseUrl`. */
export function downloadUrl(baseUrl: string, offerUrl: string): URL {
  if (/^https?:\/\//i.test(offerUrl)) {
    return new URL(offerUrl);
  }
  const base = new URL(baseUrl);
  if (base.protocol === "ws:" || base.protocol === "wss:") {
    const path = base.pathname.replace(/\/ws\/?$/, "");
    base.protocol = base.protocol === "ws:" ? "http:" : "https:";
    base.pathname = path;
  }
  if (base.protocol !== "http:" && base.protocol !== "https:") {
    throw new TypeError(`unsupported URL scheme ${base.protocol} (use http:, https:, ws: or wss:)`);
  }
  const prefix = base.pathname.replace(/\/+$/, "");
  return new URL(`${base.protocol}//${base.host}${prefix}${offerUrl.startsWith("/") ? "" : "/"}${offerUrl}`);
}

function get(url: URL, headers: Record<string, string>, options: DownloadUpdateOptions): Promise<IncomingMessage> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const extra = options.ca === undefined ? undefined : Array.isArray(options.ca) ? options.ca : [options.ca];
  return new Promise((resolve, reject) => {
    const request = (url.protocol === "https:" ? httpsRequest : httpRequest)(
      url,
      { method: "GET", headers, ...(url.protocol === "https:" && extra ? { ca: [...rootCertificates, ...extra] } : {}) },
      resolve,
    );
    request.setTimeout(timeoutMs, () => request.destroy(new UpdateDownloadError(`no data for ${timeoutMs} ms`, null)));
    request.on("error", (e) =>
      reject(e instanceof UpdateDownloadError ? e : new UpdateDownloadError(`download failed: ${e.message}`, null, { cause: e })),
    );
    request.end();
  });
}

async function hashFile(path: string, length: number, hash: ReturnType<typeof createHash>): Promise<void> {
  const handle = await open(path, "r");
  try {
    const chunk = Buffer.alloc(64 * 1024);
    let at = 0;
    while (at < length) {
      const { bytesRead } = await handle.read(chunk, 0, Math.min(chunk.length, length - at), at);
      if (bytesRead === 0) break;
      hash.update(chunk.subarray(0, bytesRead));
      at += bytesRead;
    }
  } finally {
    await handle.close();
  }
}

async function readBody(response: IncomingMessage, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response) {
    size += (chunk as Buffer).length;
    if (size > limit) break;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8").slice(0, limit);
}

/**
 * Downloads the release `offer` names (an answer of `check-update`) to
 * `options.dest`:
 *
 * 1. The manifest signature must verify against the pinned key, and the
 *    version must not be older than the installed one unless the
 *    authenticated answer says `rollback`; otherwise nothing is downloaded.
 * 2. The bytes go to `<dest>.<sha256 prefix>.part`. If that file is there from
 *    a broken download, only the rest is asked for, with `Range` and
 *    `If-Range` (the server's ETag is the quoted SHA-256; a changed file comes
 *    back whole).
 * 3. Size and SHA-256 must match the signed values; otherwise the file is
 *    deleted. The verified file is fsynced and renamed to `dest`.
 */
export async function downloadUpdate(
  offer: UpdateOffer & { productId?: string; installedVersion?: string },
  options: DownloadUpdateOptions,
): Promise<DownloadedUpdate> {
  const productId = options.productId ?? offer.productId;
  if (productId === undefined) {
    throw new TypeError("downloadUpdate: the product id is needed to check the manifest (pass productId)");
  }
  const fields: ReleaseManifestFields = {
    productId,
    version: offer.version,
    channel: offer.channel,
    platform: offer.platform,
    size: offer.size,
    sha256: offer.sha256,
  };
  if (!verifyReleaseSignature(fields, offer.signature, options.identityPublicKey)) {
    throw new UpdateVerificationError("signature", "the release's signature does not match the pinned identity key");
  }
  const installed = options.installedVersion ?? offer.installedVersion;
  if (installed !== undefined && compareVersions(offer.version, installed) < 0 && offer.rollback !== true) {
    throw new UpdateVerificationError("downgrade", `release ${offer.version} is older than the installed ${installed}`);
  }

  await mkdir(dirname(options.dest), { recursive: true });
  const part = `${options.dest}.${offer.sha256.slice(0, 16)}.part`;
  let have = (await stat(part).catch(() => null))?.size ?? 0;
  if (have > offer.size) {
    await rm(part, { force: true });
    have = 0;
  }
  const hash = createHash("sha256");
  let resumedFrom = 0;
  if (have < offer.size) {
    const headers: Record<string, string> = {};
    if (have > 0) {
      headers.range = `bytes=${have}-`;
      headers["if-range"] = `"${offer.sha256}"`;
    }
    const response = await get(downloadUrl(options.baseUrl, offer.url), headers, options);
    const status = response.statusCode ?? 0;
    if (status === 206 && have > 0) {
      if (!(response.headers["content-range"] ?? "").startsWith(`bytes ${have}-`)) {
        response.destroy();
        throw new UpdateDownloadError("the server resumed at another offset", status);
      }
      resumedFrom = have;
    } else if (status !== 200) {
      const body = await readBody(response, 4096).catch(() => "");
      throw new UpdateDownloadError(`the server answered HTTP ${status}${body ? `: ${body}` : ""}`, status);
    }
    const announced = response.headers["x-skyline-sha256"];
    if (typeof announced === "string" && announced.toLowerCase() !== offer.sha256) {
      response.destroy();
      throw new UpdateVerificationError("sha256", "the server serves another file than the one offered");
    }
    if (resumedFrom > 0) {
      await hashFile(part, resumedFrom, hash);
    }
    const handle = await open(part, resumedFrom > 0 ? "a" : "w", 0o600);
    let received = resumedFrom;
    try {
      for await (const chunk of response) {
        const bytes = chunk as Buffer;
        received += bytes.length;
        if (received > offer.size) {
          response.destroy();
          break;
        }
        hash.update(bytes);
        await handle.write(bytes);
        options.onProgress?.(received, offer.size);
      }
      await handle.sync();
    } catch (e) {
      // A broken transfer keeps its bytes for the next try.
      await handle.close();
      throw e instanceof SkylineError ? e : new UpdateDownloadError(`download broke: ${(e as Error).message}`, null, { cause: e });
    }
    await handle.close();
    if (received > offer.size) {
      await rm(part, { force: true });
      throw new UpdateVerificationError("size", `the server sent more than the signed ${offer.size} bytes; deleted`);
    }
  } else {
    await hashFile(part, have, hash);
    resumedFrom = have;
  }

  const size = (await stat(part)).size;
  if (size < offer.size) {
    // Kept: the next call resumes from here.
    throw new UpdateDownloadError(`the download ended after ${size} of ${offer.size} bytes; call again to resume`, null);
  }
  if (size > offer.size) {
    await rm(part, { force: true });
    throw new UpdateVerificationError("size", `got ${size} bytes, not the signed ${offer.size}; deleted`);
  }
  if (hash.digest("hex") !== offer.sha256) {
    await rm(part, { force: true });
    throw new UpdateVerificationError("sha256", "the file does not match its signed SHA-256; deleted");
  }
  await rename(part, options.dest);
  await fsyncDir(dirname(options.dest));
  return { path: options.dest, version: offer.version, size, sha256: offer.sha256, resumedFrom };
}
