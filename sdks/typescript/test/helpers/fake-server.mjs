// A scripted Skyline server for unit tests: a real handshake (signed with a
// chosen identity seed) and real frames, with the answers decided by the test.
import { sign } from "node:crypto";
import { createServer } from "node:http";

import { WebSocketServer } from "ws";

import * as t from "../../dist/internal/testing.js";

export const FAKE_SEED = "d21485cc3ea33e1996800bf06182e1b6bfa0351b057e03e6bd802d2e7fba1d40";

/**
 * Starts a fake server. `handler(request, connection)` answers each decrypted
 * request with `{ S, e, R }`, `null` (no answer), or `{ raw: Uint8Array }`
 * (sent as is); it may be async. `connection.index` counts connections from 0.
 * `refuse(index)` may return an HTTP status to refuse the upgrade with.
 */
export async function startFakeServer({ seed = FAKE_SEED, handler, refuse } = {}) {
  const identity = t.ed25519PrivateKey(Buffer.from(seed, "hex"));
  const identityPublicKey = t.toHex(t.ed25519PublicRaw(identity));
  const log = { connections: [], requests: [] };
  let index = 0;
  const http = createServer((req, res) => {
    res.writeHead(404).end();
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  http.on("upgrade", (req, socket, head) => {
    const n = index++;
    const status = refuse?.(n);
    if (status) {
      socket.end(`HTTP/1.1 ${status} Refused\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => serve(ws, n));
  });

  function serve(ws, n) {
    const connection = { index: n, messages: 0, closeCode: null, ws, requests: [] };
    log.connections.push(connection);
    let cipher = null;
    let chain = Promise.resolve();
    ws.on("close", (code) => {
      connection.closeCode = code;
    });
    ws.on("message", (data, isBinary) => {
      connection.messages++;
      const bytes = new Uint8Array(data);
      if (cipher === null) {
        const hello = t.decode(bytes);
        const ephemeral = t.EphemeralKeyPair.generate();
        const serverNonce = new Uint8Array(32).map(() => Math.floor(Math.random() * 256));
        const proof = t.handshakeProof(hello.d.clientEcdhPublic, ephemeral.publicKey, hello.d.nonce, serverNonce);
        const signature = new Uint8Array(sign(null, proof, identity));
        const shared = ephemeral.agree(hello.d.clientEcdhPublic);
        cipher = new t.FrameCipher(t.deriveSessionKey(shared, hello.d.nonce, serverNonce));
        ws.send(t.encode({ S: "OK", e: null, R: { serverEcdhPublic: ephemeral.publicKey, signature, serverNonce } }));
        return;
      }
      if (!isBinary) return;
      const request = t.decode(cipher.open(bytes));
      connection.requests.push(request);
      log.requests.push(request);
      chain = chain.then(async () => {
        const answer = await handler(request, connection);
        if (answer === null || answer === undefined || ws.readyState !== ws.OPEN) return;
        if (answer.raw) {
          ws.send(answer.raw);
          return;
        }
        ws.send(cipher.seal(t.encodeResponse({ q: "q" in answer ? answer.q : request.q, S: answer.S, e: answer.e ?? null, R: answer.R ?? null })));
        if (answer.close) ws.close(answer.close);
      });
    });
  }

  await new Promise((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address();
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    identityPublicKey,
    log,
    async close() {
      for (const client of wss.clients) client.terminate();
      wss.close();
      await new Promise((resolve) => http.close(resolve));
    },
  };
}

/** A handler that opens sessions and answers OK to everything else (with `R` from `results[method]`). */
export function okHandler(results = {}) {
  let tokens = 0;
  return (request) => {
    if (request.r === "start-session") {
      return {
        S: "OK",
        R: { isActivatedNow: true, activationDate: "2026-01-01", licensePlan: "P", expiryDate: "2026-02-01", sessionToken: `tok-${tokens++}` },
      };
    }
    return { S: "OK", R: results[request.r] ?? null };
  };
}
