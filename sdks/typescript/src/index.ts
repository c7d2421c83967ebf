/**
 * The Skyline client SDK for Node.js 20+ and Electron's main process.
 *
 * Layout (PROTOCOL.md sections in brackets):
 *
 * | module | what it holds |
 * | --- | --- |
 * | `client.ts` | {@link connect}, {@link Client}: sessions, reconnect with backoff, last login, queued telemetry [5, 6] |
 * | `connection.ts` | {@link Connection}: one WebSocket, handshake, `q`/`t`/`s`, pipelining, timeouts [1, 3, 5] |
 * | `methods/*.ts` | one file per method: `start-session`, `get-feature-toggles`, `send-telemetry-event`, `check-update` [6] |
 * | `errors.ts` | one error class per status, and the transport's errors [5, 6] |
 * | `protocol/*.ts` | sans-I/O: MessagePack, keys, handshake, frames, envelopes, statuses, rules [2-6] |
 * | `device.ts` | {@link getDeviceIdentity}: serial number and UUID from the platform, with a stable fallback |
 * | `last-login.ts` | {@link LastLoginStore} and its atomic file-backed default [6 step 7] |
 * | `queue.ts` | {@link TelemetryQueue}: the file-backed offline queue |
 * | `update.ts` | {@link downloadUpdate}, release manifests [7] |
 * | `rollout.ts` | {@link rolloutBucket} [6, check-update step 2] |
 * | `offline-license.ts` | {@link verifyOfflineLicense} [8] |
 * | `webhook.ts` | {@link verifyWebhookSignature} |
 *
 * Test hooks (fixed ephemeral keys and nonces) live in `internal/testing.ts`,
 * which the package does not export.
 */

export { connect, Client } from "./client.js";
export type { ClientOptions, StartSessionRequest, StartSessionResult, TelemetryReceipt, FlushResult } from "./client.js";
export {
  Connection,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_HANDSHAKE_TIMEOUT_MS,
  DEFAULT_MAX_MESSAGE_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from "./connection.js";
export type { Answer, ConnectOptions } from "./connection.js";
export { backoffDelay, DEFAULT_BACKOFF } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export * from "./errors.js";
export { IdentityPublicKey } from "./protocol/keys.js";
export { Status, CloseCode, integrityCodeIn } from "./protocol/status.js";
export type { KnownStatus, IntegrityCode } from "./protocol/status.js";
export { normalizeLicenseKey, compareVersions, addCalendarMonths } from "./protocol/rules.js";
export { START_SESSION } from "./methods/start-session.js";
export type { DeviceIds, StartSessionAnswer } from "./methods/start-session.js";
export { GET_FEATURE_TOGGLES } from "./methods/feature-toggles.js";
export type { FeatureToggles, ToggleValue } from "./methods/feature-toggles.js";
export {
  SEND_TELEMETRY_EVENT,
  InvalidEventError,
  MAX_EVENT_DATA_BYTES,
  MAX_EVENT_ID,
  MAX_EVENT_NAME,
} from "./methods/telemetry.js";
export type { TelemetryEvent } from "./methods/telemetry.js";
export { CHECK_UPDATE, UPDATE_CHANNELS } from "./methods/check-update.js";
export type { CheckUpdateRequest, CheckUpdateResult, UpdateChannel, UpdateOffer } from "./methods/check-update.js";
export {
  DEVICE_ID_FILE,
  DeviceIdentityError,
  getDeviceIdentity,
  isPlaceholder,
  parseIoreg,
  parseRegMachineGuid,
  parseWindowsOutput,
} from "./device.js";
export type { DeviceIdentity, DeviceIdentityOptions, DeviceIdSource } from "./device.js";
export { FileLastLoginStore, LastLoginStoreError, MemoryLastLoginStore } from "./last-login.js";
export type { LastLoginKey, LastLoginStore } from "./last-login.js";
export { DEFAULT_QUEUE_MAX_BYTES, DEFAULT_QUEUE_MAX_EVENTS, TelemetryQueue } from "./queue.js";
export type { DropReason, QueueStats, TelemetryQueueOptions } from "./queue.js";
export {
  downloadUpdate,
  releaseManifest,
  UpdateDownloadError,
  UpdateVerificationError,
  verifyReleaseSignature,
} from "./update.js";
export type { DownloadedUpdate, DownloadUpdateOptions, ReleaseManifestFields } from "./update.js";
export { insideRollout, rolloutBucket } from "./rollout.js";
export { OFFLINE_LICENSE_HEADER, verifyOfflineLicense } from "./offline-license.js";
export type {
  OfflineLicense,
  OfflineLicenseExpectation,
  OfflineLicenseRefusal,
  OfflineLicenseVerification,
} from "./offline-license.js";
export { signWebhook, verifyWebhookSignature } from "./webhook.js";
export type { WebhookVerification, WebhookVerifyOptions } from "./webhook.js";
