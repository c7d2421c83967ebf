/**
 * Statuses (PROTOCOL.md sections 5 and 6, with 1.2's `NO_FREE_SEAT`), the
 * integrity codes of `INTEGRITY_BREACH`, and WebSocket close codes.
 */

/** Every status this SDK knows, by its wire spelling. */
export const Status = {
  OK: "OK",
  BAD_HANDSHAKE: "BAD_HANDSHAKE",
  BAD_REQUEST: "BAD_REQUEST",
  SESSION_REQUIRED: "SESSION_REQUIRED",
  INVALID_SESSION: "INVALID_SESSION",
  UNKNOWN_METHOD: "UNKNOWN_METHOD",
  UNKNOWN_PRODUCT: "UNKNOWN_PRODUCT",
  OUTDATED_VERSION: "OUTDATED_VERSION",
  INVALID_LICENSE_KEY: "INVALID_LICENSE_KEY",
  LICENSE_REVOKED: "LICENSE_REVOKED",
  LICENSE_EXPIRED: "LICENSE_EXPIRED",
  KEY_BOUND_TO_ANOTHER_DEVICE: "KEY_BOUND_TO_ANOTHER_DEVICE",
  NO_FREE_SEAT: "NO_FREE_SEAT",
  INTEGRITY_BREACH: "INTEGRITY_BREACH",
  RATE_LIMITED: "RATE_LIMITED",
  INTERNAL_ERROR: "INTERNAL_ERROR",
} as const;

/** A status this SDK knows. Servers may send others (shown by their `e`). */
export type KnownStatus = (typeof Status)[keyof typeof Status];

/** The code an `INTEGRITY_BREACH` message names: `LL` (last login) or `SQ` (sequence). */
export type IntegrityCode = "LL" | "SQ";

/** The code at the end of an `INTEGRITY_BREACH` message, if there is one. */
export function integrityCodeIn(message: string | null): IntegrityCode | null {
  if (message === null) {
    return null;
  }
  const tail = message.trimEnd().replace(/\.+$/, "");
  if (tail.endsWith("LL")) {
    return "LL";
  }
  if (tail.endsWith("SQ")) {
    return "SQ";
  }
  return null;
}

/** WebSocket close codes as PROTOCOL.md uses them. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
} as const;
