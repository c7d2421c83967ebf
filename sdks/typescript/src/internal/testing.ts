/**
 * Test hooks: the protocol pieces with fixed ephemeral keys and nonces, for
 * replaying `test/vectors/`. Not exported by the package (`exports` names only
 * the root); tests import this file from `dist/internal/`.
 */

export { buf, concat, fromBase64, fromHex, sha256, toHex } from "../protocol/bytes.js";
export { decode, encode } from "../protocol/msgpack.js";
export { EphemeralKeyPair, IdentityPublicKey, ed25519PrivateKey, ed25519PublicRaw } from "../protocol/keys.js";
export { FrameCipher, FrameOpenError } from "../protocol/frame.js";
export {
  ClientHandshake,
  decodeServerHello,
  deriveSessionKey,
  encodeClientHello,
  handshakeProof,
} from "../protocol/handshake.js";
export { decodeResponse, encodeRequest, encodeResponse } from "../protocol/envelope.js";
export { encodeStartSession, decodeStartSessionAnswer } from "../methods/start-session.js";
export { decodeFeatureToggles } from "../methods/feature-toggles.js";
export { encodeTelemetryEvent, validateEvent } from "../methods/telemetry.js";
export { decodeCheckUpdate, encodeCheckUpdate } from "../methods/check-update.js";
export { utcDay, isIsoDate } from "../protocol/rules.js";
export {
  derivedSerial,
  derivedUuid,
  normalizeMachineId,
  persistedRandomId,
  resolveDeviceIdentity,
  usableValue,
  decodeCommandOutput,
  WINDOWS_POWERSHELL_SCRIPT,
} from "../device.js";
export { downloadUrl } from "../update.js";
export { writeFileAtomic } from "../atomic-file.js";
export { lastLoginId } from "../last-login.js";
