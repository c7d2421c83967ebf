/**
 * The offline telemetry queue: events written to disk before they are sent,
 * removed only after the server answered OK.
 *
 * Layout: one file per event in the queue's directory, named by a sequence
 * number (`0000000000000042.ev`), holding the MessagePack record
 * `{v: 1, eventId, event, data, queuedAt}`. An event is written to a temp file,
 * fsynced, renamed into place and the directory fsynced before
 * {@link TelemetryQueue.enqueue} resolves: once it has, the event survives a
 * crash, a kill or a power cut. Temp files left by a crash are deleted on open.
 *
 * Guarantees: at-least-once delivery of every event that was not dropped, in
 * queue order. Every event has an `eventId` (a UUID unless the app gave one),
 * fixed when it is queued, and a 1.1 server stores an id once per license for
 * 7 days, so an event sent again after a crash (the server answered OK but the
 * file was not yet removed) is not stored twice.
 *
 * Bounds and drop policy: at most `maxEvents` events (default 10 000) and
 * `maxBytes` bytes of files (default 16 MiB). Queueing an event that would
 * pass either bound first drops the oldest events until it fits, counted in
 * `droppedOverflow`. An event the server answers with `BAD_REQUEST` can never
 * be accepted: it is dropped, counted in `droppedRejected`. A file that cannot
 * be read back is dropped, counted in `droppedCorrupt`. Counters are per
 * process (since open). One process at a time may use a queue directory.
 */

import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import { mkdir, open, readFile, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";

import { fsyncDir } from "./atomic-file.js";
import { newEventId, validateEvent, type TelemetryEvent, type ValidEvent } from "./methods/telemetry.js";
import { asMap, decode, encode } from "./protocol/msgpack.js";

/** Default most events kept. */
export const DEFAULT_QUEUE_MAX_EVENTS = 10_000;
/** Default most bytes of event files kept: 16 MiB. */
export const DEFAULT_QUEUE_MAX_BYTES = 16 * 1024 * 1024;

/** Bounds of a queue. */
export interface TelemetryQueueOptions {
  /** Most events kept; default 10 000. */
  maxEvents?: number;
  /** Most bytes of event files kept; default 16 MiB. */
  maxBytes?: number;
}

/** One queued event, as the index knows it. */
export interface QueueEntry {
  readonly seq: number;
  readonly file: string;
  readonly bytes: number;
}

/** What the queue holds and what it has done since it was opened. */
export interface QueueStats {
  events: number;
  bytes: number;
  /** Events removed after the server's OK. */
  sent: number;
  /** Oldest events dropped to make room. */
  droppedOverflow: number;
  /** Events the server refused with `BAD_REQUEST`. */
  droppedRejected: number;
  /** Event files that could not be read back. */
  droppedCorrupt: number;
}

/** Why an event left the queue without being sent. */
export type DropReason = "overflow" | "rejected" | "corrupt";

const NAME = /^(\d{16})\.ev$/;

function fileName(seq: number): string {
  return `${String(seq).padStart(16, "0")}.ev`;
}

/**
 * A file-backed queue of telemetry events. Emits `change` whenever events are
 * added or removed and `drop` (`reason`, `count`) when events are dropped.
 */
export class TelemetryQueue extends EventEmitter {
  readonly dir: string;
  readonly maxEvents: number;
  readonly maxBytes: number;
  readonly #entries: QueueEntry[];
  #bytes: number;
  #nextSeq: number;
  #writing: Promise<unknown> = Promise.resolve();
  readonly #stats = { sent: 0, droppedOverflow: 0, droppedRejected: 0, droppedCorrupt: 0 };

  private constructor(dir: string, entries: QueueEntry[], options: TelemetryQueueOptions) {
    super();
    this.dir = dir;
    this.maxEvents = options.maxEvents ?? DEFAULT_QUEUE_MAX_EVENTS;
    this.maxBytes = options.maxBytes ?? DEFAULT_QUEUE_MAX_BYTES;
    this.#entries = entries;
    this.#bytes = entries.reduce((n, e) => n + e.bytes, 0);
    this.#nextSeq = entries.length > 0 ? (entries[entries.length - 1] as QueueEntry).seq + 1 : 0;
  }

  /** Opens (creating if needed) the queue in `dir`; events left by an earlier process are kept, in order. */
  static async open(dir: string, options: TelemetryQueueOptions = {}): Promise<TelemetryQueue> {
    await mkdir(dir, { recursive: true });
    const entries: QueueEntry[] = [];
    for (const name of await readdir(dir)) {
      if (name.startsWith(".tmp-")) {
        // A write that a crash interrupted before its rename: never queued.
        await rm(join(dir, name), { force: true });
        continue;
      }
      const m = NAME.exec(name);
      if (!m) continue;
      const file = join(dir, name);
      const info = await stat(file).catch(() => null);
      if (info === null || !info.isFile()) continue;
      entries.push({ seq: Number(m[1]), file, bytes: info.size });
    }
    entries.sort((a, b) => a.seq - b.seq);
    const queue = new TelemetryQueue(dir, entries, options);
    await queue.#enforceBounds(0);
    return queue;
  }

  /** Events waiting. */
  get size(): number {
    return this.#entries.length;
  }

  /** Bytes of event files waiting. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The counters. */
  stats(): QueueStats {
    return { events: this.#entries.length, bytes: this.#bytes, ...this.#stats };
  }

  /** The waiting events, oldest first (a snapshot). */
  entries(): QueueEntry[] {
    return this.#entries.slice();
  }

  /**
   * Validates `event`, gives it an `eventId` (a UUID unless it has one) and
   * writes it durably; resolves once it would survive a crash. Throws
   * {@link InvalidEventError} for an event the server could never accept, a
   * RangeError for one larger than the queue's byte bound.
   */
  enqueue(event: TelemetryEvent): Promise<{ eventId: string }> {
    let eventId: string;
    let record: Uint8Array;
    try {
      const valid = validateEvent(event);
      eventId = valid.eventId ?? newEventId();
      record = encode({ v: 1, eventId, event: valid.event, data: valid.data, queuedAt: Math.floor(Date.now() / 1000) });
    } catch (e) {
      return Promise.reject(e);
    }
    if (record.length > this.maxBytes) {
      return Promise.reject(new RangeError(`an event of ${record.length} bytes does not fit a queue of ${this.maxBytes} bytes`));
    }
    const work = async (): Promise<{ eventId: string }> => {
      await this.#enforceBounds(record.length);
      const seq = this.#nextSeq++;
      const file = join(this.dir, fileName(seq));
      const temp = join(this.dir, `.tmp-${fileName(seq)}-${randomBytes(4).toString("hex")}`);
      const handle = await open(temp, "wx", 0o600);
      try {
        await handle.writeFile(record);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(temp, file);
      await fsyncDir(this.dir);
      this.#entries.push({ seq, file, bytes: record.length });
      this.#bytes += record.length;
      this.emit("change");
      return { eventId };
    };
    // Writes go one at a time, so files are numbered in the order events were queued.
    const result = this.#writing.then(work, work);
    this.#writing = result.catch(() => undefined);
    return result;
  }

  /** Reads an entry back; null (and the entry dropped as corrupt) when its file cannot be read. */
  async read(entry: QueueEntry): Promise<(ValidEvent & { eventId: string }) | null> {
    let bytes: Uint8Array;
    try {
      bytes = await readFile(entry.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ENOENT") {
        this.#forget(entry);
        return null;
      }
      throw e;
    }
    try {
      const map = asMap(decode(bytes));
      if (map === null || map.v !== 1 || typeof map.eventId !== "string") {
        throw new Error("not an event record");
      }
      const valid = validateEvent({
        event: map.event as string,
        data: (map.data ?? null) as Record<string, unknown> | null,
        eventId: map.eventId,
      });
      return { ...valid, eventId: map.eventId };
    } catch {
      await this.drop(entry, "corrupt");
      return null;
    }
  }

  /** Removes an event the server acknowledged. */
  async remove(entry: QueueEntry): Promise<void> {
    if (this.#forget(entry)) {
      this.#stats.sent++;
      await rm(entry.file, { force: true });
      this.emit("change");
    }
  }

  /** Removes an event that will not be sent, counting it under `reason`. */
  async drop(entry: QueueEntry, reason: DropReason): Promise<void> {
    if (this.#forget(entry)) {
      this.#count(reason, 1);
      await rm(entry.file, { force: true });
      this.emit("change");
    }
  }

  /** Resolves true once the queue is empty, or false after `timeoutMs`. */
  waitEmpty(timeoutMs: number): Promise<boolean> {
    if (this.#entries.length === 0) {
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      const onChange = (): void => {
        if (this.#entries.length === 0) finish(true);
      };
      const timer = setTimeout(() => finish(false), timeoutMs);
      const finish = (empty: boolean): void => {
        clearTimeout(timer);
        this.off("change", onChange);
        resolve(empty);
      };
      this.on("change", onChange);
    });
  }

  /** Waits for writes in progress to finish. */
  async close(): Promise<void> {
    await this.#writing;
  }

  #count(reason: DropReason, n: number): void {
    if (reason === "overflow") this.#stats.droppedOverflow += n;
    else if (reason === "rejected") this.#stats.droppedRejected += n;
    else this.#stats.droppedCorrupt += n;
    this.emit("drop", reason, n);
  }

  #forget(entry: QueueEntry): boolean {
    const i = this.#entries.findIndex((e) => e.seq === entry.seq);
    if (i < 0) return false;
    this.#entries.splice(i, 1);
    this.#bytes -= entry.bytes;
    return true;
  }

  /** Drops the oldest events until one more of `incoming` bytes fits. */
  async #enforceBounds(incoming: number): Promise<void> {
    const extra = incoming > 0 ? 1 : 0;
    const victims: QueueEntry[] = [];
    while (
      this.#entries.length > 0 &&
      (this.#entries.length + extra > this.maxEvents || this.#bytes + incoming > this.maxBytes)
    ) {
      const oldest = this.#entries.shift() as QueueEntry;
      this.#bytes -= oldest.bytes;
      victims.push(oldest);
    }
    if (victims.length > 0) {
      this.#count("overflow", victims.length);
      await Promise.all(victims.map((v) => rm(v.file, { force: true })));
      this.emit("change");
    }
  }
}
