/** Durable file writes: temp file, fsync, rename, fsync of the directory. */

import { randomBytes } from "node:crypto";
import { open, rename, rm } from "node:fs/promises";
import { dirname, basename, join } from "node:path";

/** Flushes a directory entry (rename, unlink) to disk; a no-op where directories cannot be opened (Windows). */
export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === "win32") {
    return;
  }
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Replaces `path` with `data` so that a crash leaves either the old file or
 * the new one, never a mix: write to a temp file beside it, fsync, rename over
 * `path`, fsync the directory.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o600): Promise<void> {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  const handle = await open(temp, "wx", mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } catch (e) {
    await handle.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw e;
  }
  await handle.close();
  try {
    await rename(temp, path);
  } catch (e) {
    await rm(temp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}
