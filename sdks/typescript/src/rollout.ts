/** Rollout buckets (PROTOCOL.md section 6, `check-update` step 2). */

import { sha256 } from "./protocol/bytes.js";

/**
 * The device's bucket for a release, 0..9999: the first 8 bytes, big-endian,
 * of SHA-256 over `"skyline-rollout-v1\n" + productId + "\n" + version + "\n" +
 * deviceSerialNumber + "\n" + csProductUUID` (UTF-8), modulo 10 000.
 */
export function rolloutBucket(productId: string, version: string, deviceSerialNumber: string, csProductUUID: string): number {
  const digest = sha256(`skyline-rollout-v1\n${productId}\n${version}\n${deviceSerialNumber}\n${csProductUUID}`);
  const first8 = Buffer.from(digest.buffer, digest.byteOffset, 8).readBigUInt64BE(0);
  return Number(first8 % 10_000n);
}

/** Whether a device in `bucket` is inside a rollout of `percent` (0..100, two decimals): bucket < round(percent × 100). */
export function insideRollout(bucket: number, percent: number): boolean {
  return bucket < Math.round(percent * 100);
}
