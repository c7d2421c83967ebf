/**
 * {@link Client}: what an app holds. It keeps one {@link Connection} with a
 * session, reconnects with backoff and a fresh `start-session` when it is
 * lost, reads and writes the last login through a {@link LastLoginStore}, and,
 * in queued mode, sends telemetry through a file-backed {@link TelemetryQueue}.
 *
 * Reconnection is on demand: a call made while the connection is down, or
 * events waiting in the queue, bring it back. A refusal that another attempt
 * cannot change (invalid key, revoked, expired, bound to another device,
 * integrity breach, outdated version, unknown product, a server identity
 * that does not match) stops it: every later call fails with that error until
 * the app calls {@link Client.startSession} again.
 */

import { EventEmitter } from "node:events";
import { join } from "node:path";
import { inspect } from "node:util";

import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from "./backoff.js";
import { Connection, DEFAULT_REQUEST_TIMEOUT_MS, type ConnectOptions } from "./connection.js";
import { getDeviceIdentity } from "./device.js";
import { CloseCode } from "./protocol/status.js";
import {
  ClientClosedError,
  ConnectionClosedError,
  InvalidStateError,
  isPermanentRefusal,
  MessageTooBigError,
  NotConnectedError,
  ProtocolViolationError,
  RequestTimeoutError,
  RpcError,
  BadRequestError,
} from "./errors.js";
import { FileLastLoginStore, MemoryLastLoginStore, type LastLoginKey, type LastLoginStore } from "./last-login.js";
import {
  CHECK_UPDATE,
  decodeCheckUpdate,
  encodeCheckUpdate,
  type CheckUpdateRequest,
  type CheckUpdateResult,
} from "./methods/check-update.js";
import { decodeFeatureToggles, GET_FEATURE_TOGGLES, type FeatureToggles } from "./methods/feature-toggles.js";
import {
  decodeStartSessionAnswer,
  encodeStartSession,
  START_SESSION,
  type DeviceIds,
  type StartSessionAnswer,
} from "./methods/start-session.js";
import {
  encodeTelemetryEvent,
  newEventId,
  SEND_TELEMETRY_EVENT,
  validateEvent,
  type TelemetryEvent,
} from "./methods/telemetry.js";
import { TelemetryQueue, type QueueEntry, type QueueStats, type TelemetryQueueOptions } from "./queue.js";

/** Options of {@link Client} and {@link connect}. */
export interface ClientOptions extends ConnectOptions {
  /**
   * The app's data directory (Electron: `app.getPath("userData")`). Holds the
   * last-login file `skyline-last-login.json`, the random device id when one is
   * needed, and the telemetry queue `skyline-telemetry-queue/`.
   */
  dataDir?: string;
  /** Where last logins are kept; default a file in `dataDir`, else memory (lost on exit: pass one of them in an app). */
  lastLoginStore?: LastLoginStore;
  /** This device; default {@link getDeviceIdentity} with `dataDir`. */
  device?: DeviceIds;
  /**
   * Queued telemetry: `true` (a queue in `dataDir`), or the queue's
   * directory and bounds. Off by default: events are then sent directly.
   */
  telemetryQueue?: boolean | (TelemetryQueueOptions & { dir?: string; inFlight?: number });
  /** Reconnect backoff, or `false` for a single attempt per call. */
  reconnect?: Partial<BackoffOptions> | false;
  /**
   * How long a call waits for a session when the connection is down before it
   * fails with {@link NotConnectedError}; default the request timeout (30 s).
   */
  sessionWaitMs?: number;
  /** Reconnect as soon as the connection is lost, not only when a call or the queue needs it. */
  stayConnected?: boolean;
}

/** What the app passes to {@link Client.startSession}. */
export interface StartSessionRequest {
  productId: string;
  /** The running app's version, e.g. `7.0.3`. */
  productVersion: string;
  /** As the user typed it. */
  licenseKey: string;
  /** Language of the server's messages: `en`/`english` or `ru`/`russian`. */
  language?: string;
  /** This device; default the client's. */
  device?: DeviceIds;
  /** Overrides the stored last login (tests, migrations); normally leave it out. */
  lastLoginReportedByClient?: number | null;
}

/** A successful `start-session`. */
export interface StartSessionResult extends Omit<StartSessionAnswer, "sessionToken"> {
  /**
   * The request's `t`: the next `lastLoginReportedByClient`. Already written to
   * the client's {@link LastLoginStore} before this result was returned.
   */
  lastLoginToPersist: number;
  /** The device the session is for. */
  device: DeviceIds;
}

/** What {@link Client.sendTelemetryEvent} did with an event. */
export interface TelemetryReceipt {
  /** The event's id (generated when the app gave none). */
  eventId: string;
  /** true: written to the queue, to be sent; false: the server stored it. */
  queued: boolean;
}

/** What {@link Client.flush} left. */
export interface FlushResult {
  /** Whether the queue is empty. */
  empty: boolean;
  /** Events still waiting. */
  remaining: number;
}

interface SessionTarget {
  productId: string;
  productVersion: string;
  licenseKey: string;
  language: string | null;
  device: DeviceIds;
}

const DEFAULT_IN_FLIGHT = 32;

/** Errors after which the same request may be sent again on a new connection. */
function isConnectionLoss(error: unknown): boolean {
  return (
    error instanceof ConnectionClosedError ||
    error instanceof RequestTimeoutError ||
    error instanceof ProtocolViolationError ||
    error instanceof MessageTooBigError ||
    (error instanceof Error && !(error instanceof RpcError) && "code" in error && typeof (error as NodeJS.ErrnoException).code === "string")
  );
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve();
      return;
    }
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    }
    signal.addEventListener("abort", done, { once: true });
  });
}

/**
 * A Skyline client. Events: `session` (a {@link StartSessionResult}, after
 * every successful `start-session`, reconnects too), `disconnected` (the
 * error), `reconnecting` (`{ attempt, delayMs, error }`), `refused` (a
 * permanent refusal), `drop` (`reason`, `count`: queued events dropped),
 * `error` (background failures: the queue's disk errors).
 */
export class Client extends EventEmitter {
  readonly url: string;
  readonly #options: ClientOptions;
  readonly #backoff: BackoffOptions | null;
  readonly #abort = new AbortController();
  #store: LastLoginStore;
  #device: Promise<DeviceIds> | null = null;
  #connection: Connection | null = null;
  #target: SessionTarget | null = null;
  #refusal: Error | null = null;
  #lastError: unknown = null;
  #reconnecting: Promise<Connection> | null = null;
  #waiters = 0;
  #closed = false;
  #queue: Promise<TelemetryQueue> | null = null;
  #queueReady: TelemetryQueue | null = null;
  #draining: Promise<void> | null = null;
  #establishing: Promise<void> = Promise.resolve();

  /** A client that connects when first needed. {@link connect} creates one and connects at once. */
  constructor(url: string, options: ClientOptions) {
    super();
    this.url = url;
    this.#options = { ...options };
    this.#backoff = options.reconnect === false ? null : { ...DEFAULT_BACKOFF, ...(options.reconnect ?? {}) };
    this.#store =
      options.lastLoginStore ??
      (options.dataDir !== undefined
        ? new FileLastLoginStore(join(options.dataDir, "skyline-last-login.json"))
        : new MemoryLastLoginStore());
    const queue = options.telemetryQueue;
    if (queue !== undefined && queue !== false) {
      const settings = queue === true ? {} : queue;
      const dir = settings.dir ?? (options.dataDir !== undefined ? join(options.dataDir, "skyline-telemetry-queue") : undefined);
      if (dir === undefined) {
        throw new TypeError("telemetryQueue needs a directory: pass telemetryQueue.dir or dataDir");
      }
      this.#queue = TelemetryQueue.open(dir, settings).then((q) => {
        this.#queueReady = q;
        q.on("drop", (reason, count) => this.emit("drop", reason, count));
        q.on("change", () => this.#kickDrain());
        this.#kickDrain();
        return q;
      });
      // Reported to whoever uses the queue; never an unhandled rejection.
      this.#queue.catch(() => undefined);
    }
  }

  /** Opens the first connection now (handshake included); throws what that fails with. */
  async connect(): Promise<void> {
    this.#checkOpen();
    if (this.#connection === null || !this.#connection.isUsable) {
      this.#adopt(await Connection.open(this.url, this.#options));
    }
  }

  /** Whether a session is established right now. */
  get connected(): boolean {
    return this.#connection !== null && this.#connection.isUsable && this.#connection.hasSession;
  }

  /** The refusal that stopped reconnection, if one did. */
  get refusal(): Error | null {
    return this.#refusal;
  }

  /**
   * `start-session`: activates or validates the license for this device. The
   * last login comes from the store and the new one is stored before this
   * resolves. The request is kept, so a lost connection is re-established
   * with the same product, key and device. A non-OK status throws its
   * {@link RpcError}; a permanent one (see {@link isPermanentRefusal}) also
   * stops reconnection until `startSession` is called again.
   */
  async startSession(request: StartSessionRequest): Promise<StartSessionResult> {
    this.#checkOpen();
    const device = request.device ?? (await this.#deviceIds());
    const target: SessionTarget = {
      productId: request.productId,
      productVersion: request.productVersion,
      licenseKey: request.licenseKey,
      language: request.language ?? null,
      device,
    };
    this.#target = target;
    this.#refusal = null;
    const result = await this.#exclusive(async () => {
      let connection = this.#connection;
      if (connection === null || !connection.isUsable || connection.sessionAttempted) {
        this.#connection = null;
        if (connection !== null && connection.isUsable) {
          // Calls in flight on it go on over the new session (when repeatable).
          void connection.close(new ConnectionClosedError(CloseCode.NORMAL, "replaced by a new start-session"));
        }
        connection = await Connection.open(this.url, this.#options);
        this.#adopt(connection);
      }
      return this.#startOn(connection, target, request.lastLoginReportedByClient);
    });
    this.#kickDrain();
    return result;
  }

  /** `get-feature-toggles`, reconnecting first if needed. */
  async getFeatureToggles(): Promise<FeatureToggles> {
    return decodeFeatureToggles(await this.#call(GET_FEATURE_TOGGLES, null, true));
  }

  /**
   * Sends a telemetry event. In queued mode it is written to the queue and
   * sent in the background (resolves once it is on disk); otherwise it is sent
   * now and resolves once the server stored it. Either way it gets an
   * `eventId` (a UUID unless given), so sending it again after a lost
   * response does not store it twice on a server that keeps event ids (1.1).
   */
  async sendTelemetryEvent(event: TelemetryEvent): Promise<TelemetryReceipt> {
    this.#checkOpen();
    if (this.#queue !== null) {
      const queue = await this.#queue;
      const { eventId } = await queue.enqueue(event);
      return { eventId, queued: true };
    }
    const valid = validateEvent(event);
    const eventId = valid.eventId ?? newEventId();
    await this.#call(SEND_TELEMETRY_EVENT, encodeTelemetryEvent({ ...valid, eventId }), true);
    return { eventId, queued: false };
  }

  /**
   * `check-update` (1.1): null when there is nothing to install, else the
   * offer with this session's product and version, ready for {@link downloadUpdate}.
   */
  async checkUpdate(request: CheckUpdateRequest = {}): Promise<CheckUpdateResult | null> {
    const payload = encodeCheckUpdate(request);
    const offer = decodeCheckUpdate(await this.#call(CHECK_UPDATE, payload, true));
    const target = this.#target as SessionTarget;
    return offer === null ? null : { ...offer, productId: target.productId, installedVersion: target.productVersion };
  }

  /**
   * Calls any method with a payload (a map or null) and returns its `R`. It
   * reconnects first if needed, but is not sent again if the connection is
   * lost while it is in flight: the client cannot know whether it is safe to repeat.
   */
  async call(method: string, payload: Record<string, unknown> | null = null): Promise<unknown> {
    if (method === START_SESSION) {
      throw new InvalidStateError("use startSession for start-session");
    }
    return this.#call(method, payload, false);
  }

  /** The telemetry queue's counters, or null when the client sends events directly. */
  async queueStats(): Promise<QueueStats | null> {
    return this.#queue === null ? null : (await this.#queue).stats();
  }

  /**
   * Waits until every queued event was sent, or `timeoutMs` (default 10 s)
   * passed: for app exit. Events not sent stay on disk for the next start.
   */
  async flush(options: { timeoutMs?: number } = {}): Promise<FlushResult> {
    if (this.#queue === null) {
      return { empty: true, remaining: 0 };
    }
    const queue = await this.#queue;
    this.#kickDrain();
    const empty = await queue.waitEmpty(options.timeoutMs ?? 10_000);
    return { empty, remaining: queue.size };
  }

  /** Closes the connection and stops every background activity. Queued events stay on disk. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    const connection = this.#connection;
    this.#connection = null;
    if (connection !== null) {
      await connection.close();
    }
    await this.#draining?.catch(() => undefined);
    if (this.#queue !== null) {
      await (await this.#queue.catch(() => null))?.close();
    }
  }

  #checkOpen(): void {
    if (this.#closed) {
      throw new ClientClosedError();
    }
  }

  #deviceIds(): Promise<DeviceIds> {
    if (this.#options.device !== undefined) {
      return Promise.resolve(this.#options.device);
    }
    this.#device ??= getDeviceIdentity(this.#options.dataDir === undefined ? {} : { dataDir: this.#options.dataDir }).then(
      (d) => ({ deviceSerialNumber: d.deviceSerialNumber, csProductUUID: d.csProductUUID }),
    );
    this.#device.catch(() => {
      this.#device = null;
    });
    return this.#device;
  }

  /** Runs `work` with no other session being established at the same time. */
  async #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.#establishing;
    let release = (): void => undefined;
    this.#establishing = new Promise<void>((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }

  #adopt(connection: Connection): void {
    if (this.#closed) {
      // The app closed the client while this connection was being opened.
      void connection.close();
      throw new ClientClosedError();
    }
    this.#connection = connection;
    connection.onEnd((error) => {
      if (this.#connection !== connection) return;
      if (connection.hasSession) this.emit("disconnected", error);
      if (!this.#closed && this.#target !== null && this.#refusal === null && this.#options.stayConnected) {
        this.#session(Infinity).catch(() => undefined);
      }
      this.#kickDrain();
    });
  }

  async #startOn(connection: Connection, target: SessionTarget, lastLoginOverride?: number | null): Promise<StartSessionResult> {
    const key: LastLoginKey = { productId: target.productId, licenseKey: target.licenseKey, ...target.device };
    const lastLogin = lastLoginOverride !== undefined ? lastLoginOverride : await this.#store.get(key);
    let answer;
    try {
      answer = await connection.request(
        START_SESSION,
        encodeStartSession({
          productId: target.productId,
          productVersion: target.productVersion,
          language: target.language,
          lastLoginReportedByClient: lastLogin,
          licenseKey: target.licenseKey,
          ...target.device,
        }),
      );
    } catch (e) {
      if (isPermanentRefusal(e) && this.#target === target) {
        this.#refusal = e as Error;
        this.emit("refused", e);
      }
      throw e;
    }
    await this.#store.set(key, answer.t);
    const { sessionToken: _token, ...rest } = decodeStartSessionAnswer(answer.result);
    const result: StartSessionResult = { ...rest, lastLoginToPersist: answer.t, device: target.device };
    this.emit("session", result);
    return result;
  }

  /** A connection with a session: the current one, or a new one (with backoff) within `waitMs`. */
  async #session(waitMs: number): Promise<Connection> {
    this.#checkOpen();
    if (this.#refusal !== null) {
      throw this.#refusal;
    }
    const current = this.#connection;
    if (current !== null && current.isUsable && current.hasSession) {
      return current;
    }
    if (this.#target === null) {
      throw new InvalidStateError("call startSession first");
    }
    this.#reconnecting ??= this.#reconnectLoop().finally(() => {
      this.#reconnecting = null;
    });
    const loop = this.#reconnecting;
    loop.catch(() => undefined);
    this.#waiters++;
    let timer: NodeJS.Timeout | undefined;
    try {
      if (!Number.isFinite(waitMs)) {
        return await loop;
      }
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new NotConnectedError(`no session within ${waitMs} ms`, { cause: this.#lastError })),
          waitMs,
        );
      });
      return await Promise.race([loop, deadline]);
    } finally {
      clearTimeout(timer);
      this.#waiters--;
    }
  }

  async #reconnectLoop(): Promise<Connection> {
    for (let attempt = 0; ; attempt++) {
      this.#checkOpen();
      if (this.#refusal !== null) throw this.#refusal;
      const target = this.#target as SessionTarget;
      try {
        return await this.#exclusive(async () => {
          // A startSession of the app may have got there first.
          const current = this.#connection;
          if (current !== null && current.isUsable && current.hasSession) {
            return current;
          }
          const connection = await Connection.open(this.url, this.#options);
          this.#adopt(connection);
          await this.#startOn(connection, target);
          return connection;
        });
      } catch (e) {
        this.#lastError = e;
        if (isPermanentRefusal(e) || this.#closed) throw e;
        if (this.#backoff === null) throw e;
      }
      if (!this.#wantsConnection()) {
        throw new NotConnectedError("nothing is waiting for a session any more", { cause: this.#lastError });
      }
      const delayMs = backoffDelay(attempt, this.#backoff);
      this.emit("reconnecting", { attempt: attempt + 1, delayMs, error: this.#lastError });
      await sleep(delayMs, this.#abort.signal);
    }
  }

  #wantsConnection(): boolean {
    return this.#waiters > 0 || (this.#queueReady?.size ?? 0) > 0 || this.#options.stayConnected === true;
  }

  async #call(method: string, payload: unknown, repeatable: boolean): Promise<unknown> {
    const waitMs = this.#options.sessionWaitMs ?? this.#options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const deadline = Date.now() + waitMs;
    for (;;) {
      const connection = await this.#session(Math.max(0, deadline - Date.now()));
      try {
        return (await connection.request(method, payload)).result;
      } catch (e) {
        if (!repeatable || !isConnectionLoss(e) || this.#closed || Date.now() >= deadline) {
          throw e;
        }
        this.#lastError = e;
      }
    }
  }

  #kickDrain(): void {
    const queue = this.#queueReady;
    if (this.#draining !== null || queue === null || queue.size === 0 || this.#closed) return;
    if (this.#target === null || this.#refusal !== null) return;
    this.#draining = this.#drain(queue)
      .catch((e) => {
        this.emit("error", e);
      })
      .finally(() => {
        this.#draining = null;
        if (queue.size > 0 && !this.#closed && this.#refusal === null && this.#target !== null) {
          setTimeout(() => this.#kickDrain(), 0).unref();
        }
      });
  }

  /** Sends the queue's events, up to `inFlight` at once, in queue order, removing each after its OK. */
  async #drain(queue: TelemetryQueue): Promise<void> {
    const settings = typeof this.#options.telemetryQueue === "object" ? this.#options.telemetryQueue : {};
    const inFlight = Math.max(1, settings.inFlight ?? DEFAULT_IN_FLIGHT);
    let failures = 0;
    while (!this.#closed && queue.size > 0 && this.#refusal === null) {
      let connection: Connection;
      try {
        connection = await this.#session(Infinity);
      } catch (e) {
        if (isPermanentRefusal(e) || this.#closed || this.#backoff === null) return;
        await sleep(backoffDelay(failures++, this.#backoff ?? DEFAULT_BACKOFF), this.#abort.signal);
        continue;
      }
      const outcome = await this.#drainOn(connection, queue, inFlight);
      if (outcome === "progress") {
        failures = 0;
      } else if (outcome === "stalled") {
        await sleep(backoffDelay(failures++, this.#backoff ?? DEFAULT_BACKOFF), this.#abort.signal);
      }
    }
  }

  /** One pass over the queue on one connection. */
  async #drainOn(connection: Connection, queue: TelemetryQueue, inFlight: number): Promise<"progress" | "stalled" | "lost"> {
    const entries = queue.entries();
    const window: Array<Promise<{ entry: QueueEntry; error: unknown }>> = [];
    let next = 0;
    let stop: "stalled" | "lost" | null = null;
    while (stop === null && !this.#closed && (next < entries.length || window.length > 0)) {
      while (stop === null && window.length < inFlight && next < entries.length && connection.isUsable) {
        const entry = entries[next++] as QueueEntry;
        const event = await queue.read(entry);
        if (event === null) continue;
        window.push(
          connection.request(SEND_TELEMETRY_EVENT, encodeTelemetryEvent(event)).then(
            () => ({ entry, error: null }),
            (error: unknown) => ({ entry, error }),
          ),
        );
      }
      const settled = window.shift();
      if (settled === undefined) {
        if (!connection.isUsable) stop = "lost";
        break;
      }
      const { entry, error } = await settled;
      if (error === null) {
        await queue.remove(entry);
      } else if (error instanceof BadRequestError) {
        await queue.drop(entry, "rejected");
      } else if (error instanceof RpcError) {
        stop = "stalled";
      } else {
        stop = "lost";
      }
    }
    // Let what is in flight settle; its events stay queued unless answered OK.
    for (const settled of window) {
      const { entry, error } = await settled;
      if (error === null) await queue.remove(entry);
      else if (error instanceof BadRequestError) await queue.drop(entry, "rejected");
    }
    return stop ?? "progress";
  }

  [inspect.custom](): string {
    return `Client { url: ${this.url}, connected: ${this.connected}, refusal: ${this.#refusal?.name ?? "none"} }`;
  }
}

/**
 * Connects to `url` (`ws://` or `wss://`, e.g. `wss://licensing.example.com/ws`)
 * and verifies the server's signed handshake against `options.identityPublicKey`.
 * Throws {@link ServerIdentityMismatchError} when the signature does not
 * verify (nothing more is sent on that connection).
 */
export async function connect(url: string, options: ClientOptions): Promise<Client> {
  const client = new Client(url, options);
  try {
    await client.connect();
  } catch (e) {
    await client.close();
    throw e;
  }
  return client;
}
