/** `get-feature-toggles` (PROTOCOL.md section 6): the product's remote configuration. */

import { ProtocolViolationError } from "../errors.js";
import { asMap } from "../protocol/msgpack.js";

/** The method name. */
export const GET_FEATURE_TOGGLES = "get-feature-toggles";

/** A toggle's value: integer, float, boolean or string. */
export type ToggleValue = number | boolean | string;

/** Toggle name to value, layered product < plan < license by the server. */
export type FeatureToggles = Record<string, ToggleValue>;

/** Reads the `R` of `get-feature-toggles` (nil means no toggles). */
export function decodeFeatureToggles(result: unknown): FeatureToggles {
  if (result === null || result === undefined) {
    return {};
  }
  const map = asMap(result);
  if (map === null) {
    throw new ProtocolViolationError("get-feature-toggles result is not a map");
  }
  const toggles: FeatureToggles = {};
  for (const [name, value] of Object.entries(map)) {
    if (typeof value !== "number" && typeof value !== "boolean" && typeof value !== "string") {
      throw new ProtocolViolationError(`toggle \`${name}\` is not an integer, float, boolean or string`);
    }
    toggles[name] = value;
  }
  return toggles;
}
