#!/usr/bin/env node
// Starts a session against a Skyline server and prints the answer.
//
//   node examples/start-session.mjs --url ws://127.0.0.1:7700/ws \
//     --identity-public <64 hex> --product telepower --product-version 7.0.3 \
//     --key XXXXX-XXXXX-XXXXX-XXXXX-XXXXX [--language ru] [--data-dir DIR] [--toggles]
//
// Prints `OK` with the plan and dates (exit 0), or the status and the
// server's localized message (exit 1).
import { parseArgs } from "node:util";

import { connect, RpcError } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    url: { type: "string" },
    "identity-public": { type: "string" },
    product: { type: "string" },
    "product-version": { type: "string" },
    key: { type: "string" },
    language: { type: "string" },
    "data-dir": { type: "string" },
    serial: { type: "string" },
    uuid: { type: "string" },
    toggles: { type: "boolean", default: false },
  },
});

/** @param {string | undefined} value @param {string} name @returns {string} */
function required(value, name) {
  if (value === undefined) {
    console.error(`missing --${name}`);
    process.exit(2);
  }
  return value;
}
const url = required(values.url, "url");
const identityPublicKey = required(values["identity-public"], "identity-public");
const productId = required(values.product, "product");
const productVersion = required(values["product-version"], "product-version");
const licenseKey = required(values.key, "key");

// The device: given on the command line, else read from this machine (with
// the random fallback id kept in --data-dir when the machine has none).
const device =
  values.serial !== undefined && values.uuid !== undefined
    ? { deviceSerialNumber: values.serial, csProductUUID: values.uuid }
    : undefined;

/** @type {import('../dist/index.js').Client | undefined} */
let client;
try {
  client = await connect(url, {
    identityPublicKey,
    dataDir: values["data-dir"],
    device,
  });
  const session = await client.startSession({
    productId,
    productVersion,
    licenseKey,
    language: values.language,
  });
  console.log("OK");
  console.log(`plan: ${session.licensePlan}`);
  console.log(`activated: ${session.activationDate}${session.isActivatedNow ? " (now)" : ""}`);
  console.log(`expires: ${session.expiryDate ?? "never"}`);
  if (session.graceUntil !== null) {
    console.log(`grace until: ${session.graceUntil}`);
  }
  if (values.toggles) {
    for (const [name, value] of Object.entries(await client.getFeatureToggles())) {
      console.log(`toggle ${name} = ${JSON.stringify(value)}`);
    }
  }
  await client.close();
} catch (e) {
  await client?.close();
  if (e instanceof RpcError) {
    console.log(e.status);
    if (e.e) console.log(e.e);
  } else {
    console.log(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
  }
  process.exit(1);
}
