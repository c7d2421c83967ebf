/**
 * `send-telemetry-event` (PROTOCOL.md section 6, with 1.1's `eventId`): one
 * analytics event. The checks the server applies are made here first, so an
 * event that can never be accepted is refused before it is sent or queued.
 */

import { randomUUID } from "node:crypto";

import { encode } from "../protocol/msgpack.js";

/** The method name. */
export const SEND_TELEMETRY_EVENT = "send-telemetry-event";
/** Longest event name, in characters. */
export const MAX_EVENT_NAME = 128;
/** Longest `eventId`, in characters. */
export const MAX_EVENT_ID = 64;
/** Largest `data`, as MessagePack. */
export const MAX_EVENT_DATA_BYTES = 16 * 1024;

const EVENT_NAME = /^[A-Za-z0-9._:/-]+$/;
const EVENT_ID = /^[A-Za-z0-9._:-]+$/;

/** An event as the application gives it. */
export interface TelemetryEvent {
  /** 1..128 characters of `A-Z a-z 0-9 . _ : / -`, e.g. `app.navigation`. */
  event: string;
  /** A map of anything MessagePack carries, at most 16 KiB encoded; or nothing. */
  data?: Record<string, unknown> | null;
  /** 1..64 characters of `A-Z a-z 0-9 . _ : -`, unique per event; the server stores an id once per license (1.1). */
  eventId?: string;
}

/** An event whose fields are known to be acceptable. */
export interface ValidEvent {
  event: string;
  data: Record<string, unknown> | null;
  eventId: string | null;
}

/** Why an event can never be accepted. */
export class InvalidEventError extends TypeError {
  readonly field: "event" | "data" | "eventId";
  constructor(field: "event" | "data" | "eventId", problem: string) {
    super(`telemetry event field \`${field}\`: ${problem}`);
    this.name = "InvalidEventError";
    this.field = field;
  }
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array) {
    return false;
  }
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null || value instanceof Map;
}

/** Checks `e` as the server would; throws {@link InvalidEventError}. */
export function validateEvent(e: TelemetryEvent): ValidEvent {
  if (typeof e.event !== "string" || e.event.length < 1 || e.event.length > MAX_EVENT_NAME || !EVENT_NAME.test(e.event)) {
    throw new InvalidEventError("event", `1..${MAX_EVENT_NAME} characters of A-Z a-z 0-9 . _ : / -`);
  }
  const data = e.data ?? null;
  if (data !== null) {
    if (!isPlainMap(data)) {
      throw new InvalidEventError("data", "a map or nothing");
    }
    const size = encode(data).length;
    if (size > MAX_EVENT_DATA_BYTES) {
      throw new InvalidEventError("data", `${size} bytes as MessagePack, at most ${MAX_EVENT_DATA_BYTES}`);
    }
  }
  const eventId = e.eventId ?? null;
  if (eventId !== null && (typeof eventId !== "string" || eventId.length < 1 || eventId.length > MAX_EVENT_ID || !EVENT_ID.test(eventId))) {
    throw new InvalidEventError("eventId", `1..${MAX_EVENT_ID} characters of A-Z a-z 0-9 . _ : -`);
  }
  return { event: e.event, data, eventId };
}

/** A new event id: a random UUID. */
export function newEventId(): string {
  return randomUUID();
}

/** The payload map: `event`, `data`, then `eventId` when there is one. */
export function encodeTelemetryEvent(e: ValidEvent): Record<string, unknown> {
  const d: Record<string, unknown> = { event: e.event, data: e.data };
  if (e.eventId !== null) {
    d.eventId = e.eventId;
  }
  return d;
}
