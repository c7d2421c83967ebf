/**
 * Every error the SDK throws. Two families:
 *
 * - {@link RpcError}: the server answered with a non-OK status. One subclass
 *   per status of PROTOCOL.md sections 5 and 6; each carries `status` and `e`,
 *   the server's localized message, ready to show to the user. A status this
 *   SDK does not know is a plain `RpcError` with that status.
 * - Everything on the way: the pinned identity did not match, timeouts, a
 *   closed connection, a server that broke the protocol.
 *
 * `rpcErrorFor` is the one place a status becomes an error class, and
 * {@link isPermanentRefusal} the one place that says which refusals a
 * reconnect cannot change.
 */

import { Status, integrityCodeIn, type IntegrityCode } from "./protocol/status.js";

/** The base class of every error this SDK throws. */
export class SkylineError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A non-OK status from the server. */
export class RpcError extends SkylineError {
  /** The wire status, e.g. `LICENSE_EXPIRED`. */
  readonly status: string;
  /** The server's `e`: localized by the session's language, for the user; null when it sent none. */
  readonly e: string | null;
  /** The method the request called, when the status answered a request. */
  readonly method: string | null;

  constructor(status: string, e: string | null, method: string | null = null) {
    super(e ? `${status}: ${e}` : status);
    this.status = status;
    this.e = e;
    this.method = method;
  }

  /**
   * Whether the server ends the connection after this answer (PROTOCOL.md
   * section 5): every non-OK `start-session`, a missing session, a wrong
   * token, an integrity breach, a malformed handshake.
   */
  get closesConnection(): boolean {
    return (
      this.method === "start-session" ||
      this.status === Status.SESSION_REQUIRED ||
      this.status === Status.INVALID_SESSION ||
      this.status === Status.INTEGRITY_BREACH ||
      this.status === Status.BAD_HANDSHAKE
    );
  }
}

/** `BAD_HANDSHAKE`: the server refused the `client-hello`. */
export class BadHandshakeError extends RpcError {}
/** `BAD_REQUEST`: malformed envelope or payload; `e` names the field. */
export class BadRequestError extends RpcError {}
/** `SESSION_REQUIRED`: the first request was not `start-session`. */
export class SessionRequiredError extends RpcError {}
/** `INVALID_SESSION`: wrong session token. */
export class InvalidSessionError extends RpcError {}
/** `UNKNOWN_METHOD`: no such method on this server. */
export class UnknownMethodError extends RpcError {}
/** `UNKNOWN_PRODUCT`: `productId` not known or disabled. */
export class UnknownProductError extends RpcError {}
/** `OUTDATED_VERSION`: this version is older than the product's minimum; update (PROTOCOL.md section 7). */
export class OutdatedVersionError extends RpcError {}
/** `INVALID_LICENSE_KEY`: no such key for this product, or a typo. */
export class InvalidLicenseKeyError extends RpcError {}
/** `LICENSE_REVOKED`: revoked or suspended by an operator. */
export class LicenseRevokedError extends RpcError {}
/** `LICENSE_EXPIRED`: today (UTC) is after the expiry date. */
export class LicenseExpiredError extends RpcError {}
/** `KEY_BOUND_TO_ANOTHER_DEVICE`: every device seat is taken; `e` names the date of the first binding. */
export class KeyBoundToAnotherDeviceError extends RpcError {}
/** `NO_FREE_SEAT` (1.2): every seat of a floating plan is in use; try again later. */
export class NoFreeSeatError extends RpcError {}
/** `RATE_LIMITED`: too many requests or attempts. */
export class RateLimitedError extends RpcError {}
/** `INTERNAL_ERROR`: a server fault; nothing was changed. */
export class InternalServerError extends RpcError {}

/** `INTEGRITY_BREACH`: tampering detected; `code` is `LL` (last login) or `SQ` (sequence). */
export class IntegrityBreachError extends RpcError {
  /** The code named at the end of `e`, or null if it names none. */
  readonly code: IntegrityCode | null;

  constructor(status: string, e: string | null, method: string | null = null) {
    super(status, e, method);
    this.code = integrityCodeIn(e);
  }
}

type RpcErrorClass = new (status: string, e: string | null, method: string | null) => RpcError;

const BY_STATUS: ReadonlyMap<string, RpcErrorClass> = new Map<string, RpcErrorClass>([
  [Status.BAD_HANDSHAKE, BadHandshakeError],
  [Status.BAD_REQUEST, BadRequestError],
  [Status.SESSION_REQUIRED, SessionRequiredError],
  [Status.INVALID_SESSION, InvalidSessionError],
  [Status.UNKNOWN_METHOD, UnknownMethodError],
  [Status.UNKNOWN_PRODUCT, UnknownProductError],
  [Status.OUTDATED_VERSION, OutdatedVersionError],
  [Status.INVALID_LICENSE_KEY, InvalidLicenseKeyError],
  [Status.LICENSE_REVOKED, LicenseRevokedError],
  [Status.LICENSE_EXPIRED, LicenseExpiredError],
  [Status.KEY_BOUND_TO_ANOTHER_DEVICE, KeyBoundToAnotherDeviceError],
  [Status.NO_FREE_SEAT, NoFreeSeatError],
  [Status.INTEGRITY_BREACH, IntegrityBreachError],
  [Status.RATE_LIMITED, RateLimitedError],
  [Status.INTERNAL_ERROR, InternalServerError],
]);

/** The error for a non-OK `status` and its `e`; an unknown status is a plain {@link RpcError}. */
export function rpcErrorFor(status: string, e: string | null, method: string | null = null): RpcError {
  const Class = BY_STATUS.get(status) ?? RpcError;
  return new Class(status, e, method);
}

/**
 * Statuses of `start-session` that another attempt cannot change until an
 * operator or the user acts: the client stops reconnecting and surfaces them.
 */
export const PERMANENT_STATUSES: ReadonlySet<string> = new Set([
  Status.UNKNOWN_PRODUCT,
  Status.OUTDATED_VERSION,
  Status.INVALID_LICENSE_KEY,
  Status.LICENSE_REVOKED,
  Status.LICENSE_EXPIRED,
  Status.KEY_BOUND_TO_ANOTHER_DEVICE,
  Status.INTEGRITY_BREACH,
  Status.BAD_REQUEST,
  Status.SESSION_REQUIRED,
]);

/**
 * Whether `error` is a refusal that reconnecting will not change: one of
 * {@link PERMANENT_STATUSES}, or a server whose identity does not match the
 * pinned key. Network failures, `RATE_LIMITED`, `INTERNAL_ERROR`,
 * `NO_FREE_SEAT` and unknown statuses are worth another try.
 */
export function isPermanentRefusal(error: unknown): boolean {
  if (error instanceof ServerIdentityMismatchError) {
    return true;
  }
  return error instanceof RpcError && PERMANENT_STATUSES.has(error.status);
}

/**
 * The server's handshake signature does not verify against the pinned
 * identity key: a man-in-the-middle, or the wrong key pinned. Nothing was sent
 * on that connection after the hello, and it was dropped. Report it to the
 * user as an integrity breach.
 */
export class ServerIdentityMismatchError extends SkylineError {
  constructor() {
    super("the server's identity does not match the pinned key (possible man-in-the-middle)");
  }
}

/**
 * Connecting took too long: `phase` `connect` (TCP, TLS and the WebSocket
 * upgrade, over the connect timeout) or `handshake` (no verified
 * `server-hello` within the handshake timeout after the upgrade).
 */
export class ConnectTimeoutError extends SkylineError {
  readonly timeoutMs: number;
  readonly phase: "connect" | "handshake";
  constructor(timeoutMs: number, phase: "connect" | "handshake" = "connect") {
    super(phase === "connect" ? `connecting took longer than ${timeoutMs} ms` : `no server-hello within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
    this.phase = phase;
  }
}

/** No response within the request timeout; the connection was dropped (a late answer would be out of order). */
export class RequestTimeoutError extends SkylineError {
  readonly timeoutMs: number;
  readonly method: string;
  constructor(method: string, timeoutMs: number) {
    super(`no response to ${method} within ${timeoutMs} ms`);
    this.method = method;
    this.timeoutMs = timeoutMs;
  }
}

/** The connection ended. `code` is the WebSocket close code (1006 when there was no close frame). */
export class ConnectionClosedError extends SkylineError {
  readonly code: number;
  readonly reason: string;
  constructor(code: number, reason: string, options?: { cause?: unknown }) {
    super(`the connection closed (code ${code}${reason ? `: ${reason}` : ""})`, options);
    this.code = code;
    this.reason = reason;
  }
}

/** The server refused the WebSocket upgrade with this HTTP status (429: too many handshakes, retry later). */
export class UpgradeRefusedError extends SkylineError {
  readonly httpStatus: number;
  constructor(httpStatus: number) {
    super(`the server refused the WebSocket upgrade with HTTP ${httpStatus}`);
    this.httpStatus = httpStatus;
  }
}

/**
 * The server broke the protocol: a malformed hello or response, a response
 * whose `q` is not its request's, a text frame, a low-order key, a frame that
 * failed authentication. The connection was dropped.
 */
export class ProtocolViolationError extends SkylineError {}

/** The server sent a message larger than the configured maximum; the connection was closed (1009). */
export class MessageTooBigError extends SkylineError {
  readonly limit: number;
  constructor(limit: number) {
    super(`the server sent a message larger than ${limit} bytes`);
    this.limit = limit;
  }
}

/** No session could be had before the call's deadline; `cause` is the last attempt's error. */
export class NotConnectedError extends SkylineError {}

/** The client was closed by the application. */
export class ClientClosedError extends SkylineError {
  constructor() {
    super("the client is closed");
  }
}

/** A call that is not allowed in the client's state (e.g. a method before `start-session`). */
export class InvalidStateError extends SkylineError {}
