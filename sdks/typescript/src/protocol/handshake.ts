/**
 * The client side of the handshake (PROTOCOL.md section 3), without I/O.
 *
 * {@link ClientHandshake.start} gives the `client-hello` bytes and a handshake
 * that only {@link ClientHandshake.finish} can turn into a {@link FrameCipher},
 * after the server's signature over the proof has verified against the pinned
 * identity key. Nothing can be encrypted before that.
 */

import { hkdfSync, randomBytes } from "node:crypto";
import { inspect } from "node:util";

import {
  BadHandshakeError,
  ProtocolViolationError,
  ServerIdentityMismatchError,
  rpcErrorFor,
} from "../errors.js";
import { buf, concat, toHex } from "./bytes.js";
import { FrameCipher } from "./frame.js";
import { EphemeralKeyPair, type IdentityPublicKey } from "./keys.js";
import { asMap, decode, encode } from "./msgpack.js";
import { Status } from "./status.js";

/** The HKDF `info` of the session key. */
export const SESSION_KEY_INFO = "skyline/v1 session key";
/** The method name of the first message. */
export const CLIENT_HELLO = "client-hello";
/** Bytes of each handshake nonce. */
export const HANDSHAKE_NONCE_LEN = 32;

/** `clientEcdhPublic || serverEcdhPublic || clientNonce || serverNonce`, 128 bytes. */
export function handshakeProof(
  clientEcdhPublic: Uint8Array,
  serverEcdhPublic: Uint8Array,
  clientNonce: Uint8Array,
  serverNonce: Uint8Array,
): Uint8Array {
  return concat(clientEcdhPublic, serverEcdhPublic, clientNonce, serverNonce);
}

/** `HKDF-SHA256(salt = clientNonce || serverNonce, ikm = shared, info, 32)`. */
export function deriveSessionKey(shared: Uint8Array, clientNonce: Uint8Array, serverNonce: Uint8Array): Uint8Array {
  const salt = concat(clientNonce, serverNonce);
  return new Uint8Array(hkdfSync("sha256", buf(shared), buf(salt), SESSION_KEY_INFO, 32));
}

/** `{"r": "client-hello", "d": {"clientEcdhPublic": bin32, "nonce": bin32}}`. */
export function encodeClientHello(clientEcdhPublic: Uint8Array, nonce: Uint8Array): Uint8Array {
  return encode({ r: CLIENT_HELLO, d: { clientEcdhPublic, nonce } });
}

/** The `R` of an OK `server-hello`. */
export interface ServerHello {
  serverEcdhPublic: Uint8Array;
  signature: Uint8Array;
  serverNonce: Uint8Array;
}

function binField(map: Record<string, unknown>, key: string, length: number): Uint8Array {
  const value = map[key];
  if (!(value instanceof Uint8Array) || value.length !== length) {
    throw new ProtocolViolationError(`server-hello: field \`${key}\` is not ${length} bytes of bin`);
  }
  return value;
}

/**
 * Reads the server's reply to the hello. A non-OK reply (`BAD_HANDSHAKE`,
 * `RATE_LIMITED`, ...) is thrown as its {@link RpcError}; a malformed one as
 * {@link ProtocolViolationError}.
 */
export function decodeServerHello(bytes: Uint8Array): ServerHello {
  let value: unknown;
  try {
    value = decode(bytes);
  } catch (e) {
    throw new ProtocolViolationError(`server-hello: not MessagePack (${(e as Error).message})`);
  }
  const top = asMap(value);
  if (top === null || typeof top.S !== "string") {
    throw new ProtocolViolationError("server-hello: not a map with a status");
  }
  const e = typeof top.e === "string" ? top.e : null;
  if (top.S === Status.BAD_HANDSHAKE) {
    throw new BadHandshakeError(top.S, e, null);
  }
  if (top.S !== Status.OK) {
    throw rpcErrorFor(top.S, e, null);
  }
  const r = asMap(top.R);
  if (r === null) {
    throw new ProtocolViolationError("server-hello: field `R` is not a map");
  }
  return {
    serverEcdhPublic: binField(r, "serverEcdhPublic", 32),
    signature: binField(r, "signature", 64),
    serverNonce: binField(r, "serverNonce", HANDSHAKE_NONCE_LEN),
  };
}

/** What a finished handshake yields. The key material is only for replaying test vectors. */
export interface FinishedHandshake {
  cipher: FrameCipher;
  proof: Uint8Array;
  sharedSecret: Uint8Array;
  sessionKey: Uint8Array;
}

/** The client after sending `client-hello`, waiting for the server's reply. */
export class ClientHandshake {
  readonly #ephemeral: EphemeralKeyPair;
  readonly #nonce: Uint8Array;
  /** The plain MessagePack `client-hello` to send as one binary message. */
  readonly hello: Uint8Array;

  private constructor(ephemeral: EphemeralKeyPair, nonce: Uint8Array) {
    if (nonce.length !== HANDSHAKE_NONCE_LEN) {
      throw new TypeError("a handshake nonce is 32 bytes");
    }
    this.#ephemeral = ephemeral;
    this.#nonce = nonce;
    this.hello = encodeClientHello(ephemeral.publicKey, nonce);
  }

  /** A handshake with a fresh ephemeral key and nonce. */
  static start(): ClientHandshake {
    return new ClientHandshake(EphemeralKeyPair.generate(), new Uint8Array(randomBytes(HANDSHAKE_NONCE_LEN)));
  }

  /** A handshake with a fixed ephemeral private key and nonce (test vectors only). */
  static startFixed(clientEcdhPrivate: Uint8Array, nonce: Uint8Array): ClientHandshake {
    return new ClientHandshake(EphemeralKeyPair.fromPrivate(clientEcdhPrivate), nonce);
  }

  /**
   * Checks the server's reply against the pinned key and derives the session.
   * Throws {@link ServerIdentityMismatchError} for a bad signature (the caller
   * must then send nothing more on the connection), the reply's error for a
   * refusal, {@link ProtocolViolationError} for a malformed reply or a
   * low-order key.
   */
  finish(pinned: IdentityPublicKey, serverHello: Uint8Array): FrameCipher {
    return this.finishDetailed(pinned, serverHello).cipher;
  }

  /** {@link finish}, also returning the proof and keys (test vectors only). */
  finishDetailed(pinned: IdentityPublicKey, serverHello: Uint8Array): FinishedHandshake {
    const hello = decodeServerHello(serverHello);
    const proof = handshakeProof(this.#ephemeral.publicKey, hello.serverEcdhPublic, this.#nonce, hello.serverNonce);
    if (!pinned.verify(proof, hello.signature)) {
      throw new ServerIdentityMismatchError();
    }
    const sharedSecret = this.#ephemeral.agree(hello.serverEcdhPublic);
    if (sharedSecret === null) {
      throw new ProtocolViolationError("the server's ephemeral key is of low order");
    }
    const sessionKey = deriveSessionKey(sharedSecret, this.#nonce, hello.serverNonce);
    return { cipher: new FrameCipher(sessionKey), proof, sharedSecret, sessionKey };
  }

  [inspect.custom](): string {
    return `ClientHandshake { clientEcdhPublic: ${toHex(this.#ephemeral.publicKey)} }`;
  }
}

