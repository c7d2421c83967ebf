/**
 * {@link Connection}: one WebSocket to a Skyline server after a verified
 * handshake (PROTOCOL.md sections 1, 3 and 5). It numbers requests (`q`),
 * stamps them (`t`), attaches the session token (`s`), seals them, and checks
 * that every response answers the oldest request in flight. Several requests
 * may be in flight at once; their responses come back in order.
 *
 * A connection is used until it fails: a close, a timeout, a frame that fails
 * authentication or any other protocol violation ends it, every request still
 * in flight is rejected, and {@link Client} opens a new one.
 */

import { rootCertificates } from "node:tls";
import { inspect } from "node:util";

import WebSocket from "ws";

import {
  ClientClosedError,
  ConnectTimeoutError,
  ConnectionClosedError,
  InvalidStateError,
  MessageTooBigError,
  ProtocolViolationError,
  RequestTimeoutError,
  UpgradeRefusedError,
  rpcErrorFor,
  type RpcError,
} from "./errors.js";
import { decodeStartSessionAnswer, START_SESSION } from "./methods/start-session.js";
import { decodeResponse, encodeRequest } from "./protocol/envelope.js";
import { FrameOpenError, type FrameCipher } from "./protocol/frame.js";
import { ClientHandshake } from "./protocol/handshake.js";
import { IdentityPublicKey } from "./protocol/keys.js";
import { CloseCode, Status } from "./protocol/status.js";

/** Default connect timeout: TCP, TLS and the WebSocket upgrade, 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Default handshake timeout: from the upgrade to a verified `server-hello`, 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
/** Default time one request waits for its response, 30 s. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** Default largest message accepted from the server: 64 KiB, the server's own default. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

/** How to reach and trust a server. */
export interface ConnectOptions {
  /** The server's Ed25519 identity public key, shipped with the app: 64 hex characters or 32 bytes. */
  identityPublicKey: string | Uint8Array | IdentityPublicKey;
  /** TCP, TLS and the WebSocket upgrade; default 10 000 ms. */
  connectTimeoutMs?: number;
  /** From the upgrade to a verified `server-hello`; default 10 000 ms. */
  handshakeTimeoutMs?: number;
  /** How long a request waits for its response; default 30 000 ms. A timeout drops the connection. */
  requestTimeoutMs?: number;
  /** Largest message accepted from the server, in bytes; default 65 536. Larger: close 1009. */
  maxMessageBytes?: number;
  /**
   * Extra PEM CA certificates trusted for `wss://`, on top of Node's bundled
   * roots: for a private CA or a self-signed server certificate.
   */
  ca?: string | Buffer | Array<string | Buffer>;
  /** The clock that stamps each request's `t`, UTC UNIX seconds; default the system clock. */
  clock?: () => number;
}

/** What an answered request gives back. */
export interface Answer {
  /** The response's `R`. */
  result: unknown;
  /** The request's sequence number. */
  q: number;
  /** The request's `t`. */
  t: number;
}

interface Pending {
  q: number;
  t: number;
  method: string;
  resolve: (answer: Answer) => void;
  reject: (error: Error) => void;
  timer: NodeJS.Timeout;
}

/** The system clock in UTC UNIX seconds. */
export function systemClock(): number {
  return Math.floor(Date.now() / 1000);
}

/** The `ca` option as the TLS layer wants it: Node's roots plus the extra ones. */
function trustedRoots(extra: ConnectOptions["ca"]): Array<string | Buffer> | undefined {
  if (extra === undefined) {
    return undefined;
  }
  return [...rootCertificates, ...(Array.isArray(extra) ? extra : [extra])];
}

function wsError(error: Error, limit: number): Error {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH") {
    return new MessageTooBigError(limit);
  }
  return error;
}

function bytesOf(data: WebSocket.RawData): Uint8Array {
  if (Array.isArray(data)) {
    return new Uint8Array(Buffer.concat(data));
  }
  return data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** One verified, encrypted connection. Open it with {@link Connection.open}. */
export class Connection {
  readonly #ws: WebSocket;
  readonly #cipher: FrameCipher;
  readonly #requestTimeoutMs: number;
  readonly #clock: () => number;
  readonly #pending: Pending[] = [];
  readonly #closeListeners: Array<(error: Error) => void> = [];
  #nextQ = 0;
  #token: string | null = null;
  /** Why no request may be sent any more (a status after which the server closes, or the end). */
  #unusable: Error | null = null;
  /** Why the connection ended, once it has. */
  #ended: Error | null = null;

  private constructor(ws: WebSocket, cipher: FrameCipher, options: ConnectOptions) {
    this.#ws = ws;
    this.#cipher = cipher;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#clock = options.clock ?? systemClock;
    const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    ws.on("message", (data, isBinary) => this.#onMessage(data, isBinary));
    ws.on("error", (error) => this.#end(wsError(error, limit)));
    ws.on("close", (code, reason) => this.#end(new ConnectionClosedError(code, reason.toString())));
  }

  /**
   * Opens a WebSocket to `url` (`ws://` or `wss://`, path `/ws`), sends
   * `client-hello` and checks the server's signed reply against the pinned
   * identity key, within the connect and handshake timeouts.
   *
   * A signature that does not verify is {@link ServerIdentityMismatchError}:
   * the socket is destroyed at once, without even a close frame.
   */
  static open(url: string, options: ConnectOptions): Promise<Connection> {
    const pinned = IdentityPublicKey.from(options.identityPublicKey);
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    const limit = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    return new Promise<Connection>((resolve, reject) => {
      let ws: WebSocket;
      try {
        const parsed = new URL(url);
        if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
          throw new TypeError(`unsupported URL scheme ${parsed.protocol} (use ws: or wss:)`);
        }
        ws = new WebSocket(url, {
          perMessageDeflate: false,
          followRedirects: false,
          handshakeTimeout: timeoutMs,
          maxPayload: limit,
          ca: trustedRoots(options.ca),
        });
      } catch (e) {
        reject(e);
        return;
      }
      const handshake = ClientHandshake.start();
      let settled = false;
      const fail = (error: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners();
        // Errors after this point have nobody to tell; keep them from crashing.
        ws.on("error", () => undefined);
        ws.terminate();
        reject(error);
      };
      let timer = setTimeout(() => fail(new ConnectTimeoutError(timeoutMs, "connect")), timeoutMs);
      ws.on("unexpected-response", (request, response) => {
        response.resume();
        request.destroy();
        fail(new UpgradeRefusedError(response.statusCode ?? 0));
      });
      ws.on("error", (error) => fail(wsError(error, limit)));
      ws.on("close", (code, reason) => fail(new ConnectionClosedError(code, reason.toString())));
      ws.on("open", () => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(new ConnectTimeoutError(handshakeTimeoutMs, "handshake")), handshakeTimeoutMs);
        ws.send(handshake.hello);
      });
      ws.once("message", (data, isBinary) => {
        if (!isBinary) {
          fail(new ProtocolViolationError("the server answered the hello with a text frame"));
          return;
        }
        let cipher: FrameCipher;
        try {
          cipher = handshake.finish(pinned, bytesOf(data));
        } catch (e) {
          fail(e as Error);
          return;
        }
        settled = true;
        clearTimeout(timer);
        ws.removeAllListeners();
        resolve(new Connection(ws, cipher, options));
      });
    });
  }

  /** Whether a request can be sent. */
  get isUsable(): boolean {
    return this.#unusable === null && this.#ended === null;
  }

  /** Whether `start-session` succeeded on this connection. */
  get hasSession(): boolean {
    return this.#token !== null;
  }

  /** Whether `start-session` was sent on this connection (it may be sent once). */
  get sessionAttempted(): boolean {
    return this.#nextQ > 0;
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#pending.length;
  }

  /** Calls `listener` once, with the reason, when the connection ends. */
  onEnd(listener: (error: Error) => void): void {
    if (this.#ended !== null) {
      queueMicrotask(() => listener(this.#ended as Error));
    } else {
      this.#closeListeners.push(listener);
    }
  }

  /**
   * Sends one request at the next `q` and resolves with its answer, or
   * rejects with the status's {@link RpcError}, or with why the connection
   * ended. `start-session` must be the first request; nothing else may be
   * sent until it succeeded.
   */
  request(method: string, payload: unknown): Promise<Answer> {
    if (this.#ended !== null || this.#unusable !== null) {
      const why = this.#ended ?? this.#unusable;
      const code = why instanceof ConnectionClosedError ? why.code : 1006;
      return Promise.reject(new ConnectionClosedError(code, "the connection is no longer usable", { cause: why }));
    }
    if (method === START_SESSION) {
      if (this.#nextQ !== 0) {
        return Promise.reject(new InvalidStateError("start-session was already sent on this connection"));
      }
    } else if (this.#token === null) {
      return Promise.reject(new InvalidStateError("start-session must succeed before any other method"));
    }
    const q = this.#nextQ;
    const t = this.#clock();
    let frame: Uint8Array;
    try {
      frame = this.#cipher.seal(encodeRequest({ q, t, r: method, s: method === START_SESSION ? null : this.#token, d: payload }));
    } catch (e) {
      return Promise.reject(e);
    }
    this.#nextQ = q + 1;
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#end(new RequestTimeoutError(method, this.#requestTimeoutMs), true);
      }, this.#requestTimeoutMs);
      this.#pending.push({ q, t, method, resolve, reject, timer });
      this.#ws.send(frame, { binary: true }, (error) => {
        if (error) this.#end(error, true);
      });
    });
  }

  /**
   * Closes the connection (1000). Requests in flight are rejected with
   * `reason`, by default {@link ClientClosedError}.
   */
  close(reason: Error = new ClientClosedError()): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.#ws.readyState === WebSocket.CLOSED) {
        this.#end(reason);
        resolve();
        return;
      }
      const timer = setTimeout(() => this.#ws.terminate(), 2_000);
      this.#ws.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.#end(reason);
      this.#ws.close(CloseCode.NORMAL);
    });
  }

  #onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (this.#ended !== null) {
      return;
    }
    if (!isBinary) {
      this.#violation(new ProtocolViolationError("the server sent a text frame"), CloseCode.UNSUPPORTED_DATA);
      return;
    }
    const expected = this.#pending[0];
    if (expected === undefined) {
      this.#violation(new ProtocolViolationError("the server sent a message no request asked for"), CloseCode.PROTOCOL_ERROR);
      return;
    }
    let plaintext: Uint8Array;
    try {
      plaintext = this.#cipher.open(bytesOf(data));
    } catch (e) {
      // PROTOCOL.md section 4: nothing in it can be trusted; close 1002.
      const detail = e instanceof FrameOpenError ? "a frame from the server failed authentication" : String(e);
      this.#violation(new ProtocolViolationError(detail), CloseCode.PROTOCOL_ERROR);
      return;
    }
    let response;
    try {
      response = decodeResponse(plaintext);
    } catch (e) {
      this.#violation(e as Error, CloseCode.PROTOCOL_ERROR);
      return;
    }
    if (response.q !== expected.q) {
      this.#violation(
        new ProtocolViolationError(`response q ${String(response.q)} to request q ${expected.q} (${response.S})`),
        CloseCode.PROTOCOL_ERROR,
      );
      return;
    }
    this.#pending.shift();
    clearTimeout(expected.timer);
    if (response.S !== Status.OK) {
      const error: RpcError = rpcErrorFor(response.S, response.e, expected.method);
      if (error.closesConnection) {
        // The server ends the connection after this answer: send nothing more.
        this.#unusable = error;
      }
      expected.reject(error);
      return;
    }
    if (expected.method === START_SESSION) {
      try {
        this.#token = decodeStartSessionAnswer(response.R).sessionToken;
      } catch (e) {
        expected.reject(e as Error);
        this.#violation(e as Error, CloseCode.PROTOCOL_ERROR);
        return;
      }
    }
    expected.resolve({ result: response.R, q: expected.q, t: expected.t });
  }

  #violation(error: Error, code: number): void {
    if (this.#ended !== null) return;
    this.#end(error);
    try {
      this.#ws.close(code);
    } catch {
      this.#ws.terminate();
    }
  }

  /** Ends the connection for `error`: every request in flight is rejected with it. */
  #end(error: Error, terminate = false): void {
    if (this.#ended !== null) {
      return;
    }
    this.#ended = error;
    for (const pending of this.#pending.splice(0)) {
      clearTimeout(pending.timer);
      pending.reject(error);
    }
    if (terminate) {
      this.#ws.terminate();
    }
    for (const listener of this.#closeListeners.splice(0)) {
      listener(error);
    }
  }

  [inspect.custom](): string {
    return `Connection { q: ${this.#nextQ}, inFlight: ${this.#pending.length}, session: ${this.#token === null ? "none" : "<redacted>"}, ended: ${this.#ended?.message ?? "no"} }`;
  }
}
