/**
 * Encrypted frames (PROTOCOL.md section 4): `nonce (12) || AES-256-GCM
 * ciphertext || tag (16)` under the session key, empty associated data.
 */

import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from "node:crypto";
import { inspect } from "node:util";

import { buf, concat } from "./bytes.js";

/** Bytes of a frame's nonce. */
export const FRAME_NONCE_LEN = 12;
/** Bytes of a frame's tag. */
export const FRAME_TAG_LEN = 16;
/** The shortest frame: a nonce and a tag around an empty ciphertext. */
export const MIN_FRAME_LEN = FRAME_NONCE_LEN + FRAME_TAG_LEN;

/** Thrown by {@link FrameCipher.open}: too short or failed authentication. No detail, on purpose. */
export class FrameOpenError extends Error {
  constructor() {
    super("a frame failed authentication");
    this.name = "FrameOpenError";
  }
}

/** Seals and opens frames under one session key. `inspect` never shows the key. */
export class FrameCipher {
  readonly #key: KeyObject;

  constructor(sessionKey: Uint8Array) {
    if (sessionKey.length !== 32) {
      throw new TypeError("a session key is 32 bytes");
    }
    this.#key = createSecretKey(buf(sessionKey));
  }

  /** The frame of `plaintext`; `nonce` is random unless given (test vectors only). */
  seal(plaintext: Uint8Array, nonce?: Uint8Array): Uint8Array {
    const iv = nonce ?? randomBytes(FRAME_NONCE_LEN);
    if (iv.length !== FRAME_NONCE_LEN) {
      throw new TypeError("a frame nonce is 12 bytes");
    }
    const cipher = createCipheriv("aes-256-gcm", this.#key, buf(iv));
    const body = Buffer.concat([cipher.update(buf(plaintext)), cipher.final()]);
    return concat(iv, body, cipher.getAuthTag());
  }

  /** The plaintext of `frame`; throws {@link FrameOpenError} on anything wrong. */
  open(frame: Uint8Array): Uint8Array {
    if (frame.length < MIN_FRAME_LEN) {
      throw new FrameOpenError();
    }
    const iv = frame.subarray(0, FRAME_NONCE_LEN);
    const tag = frame.subarray(frame.length - FRAME_TAG_LEN);
    const body = frame.subarray(FRAME_NONCE_LEN, frame.length - FRAME_TAG_LEN);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, buf(iv), { authTagLength: FRAME_TAG_LEN });
      decipher.setAuthTag(buf(tag));
      return new Uint8Array(Buffer.concat([decipher.update(buf(body)), decipher.final()]));
    } catch {
      throw new FrameOpenError();
    }
  }

  [inspect.custom](): string {
    return "FrameCipher { sessionKey: <redacted> }";
  }
}
