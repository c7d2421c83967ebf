/**
 * Rules of PROTOCOL.md section 6 that a client needs too: license keys as
 * users type them, dotted versions compared numerically, and expiry dates in
 * calendar months.
 */

/** Characters in a license key, without dashes. */
export const LICENSE_KEY_CHARS = 25;

/**
 * The key `input` names, as `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX` in upper case
 * (case, spaces and dashes do not matter), or null when it cannot be a key.
 */
export function normalizeLicenseKey(input: string): string | null {
  const chars: string[] = [];
  for (const c of input) {
    if (c === "-" || /\s/u.test(c)) {
      continue;
    }
    if (!/^[A-Za-z0-9]$/.test(c) || chars.length === LICENSE_KEY_CHARS) {
      return null;
    }
    chars.push(c.toUpperCase());
  }
  if (chars.length !== LICENSE_KEY_CHARS) {
    return null;
  }
  const groups: string[] = [];
  for (let i = 0; i < LICENSE_KEY_CHARS; i += 5) {
    groups.push(chars.slice(i, i + 5).join(""));
  }
  return groups.join("-");
}

interface ParsedVersion {
  core: bigint[];
  pre: string[] | null;
}

function parseVersion(text: string): ParsedVersion {
  const dash = text.indexOf("-");
  const coreText = dash < 0 ? text : text.slice(0, dash);
  const preText = dash < 0 ? null : text.slice(dash + 1);
  const parts = coreText.split(".");
  if (parts.length > 8 || parts.some((p) => !/^[0-9]+$/.test(p))) {
    throw new TypeError(`\`${text.slice(0, 64)}\` is not a dotted numeric version such as 7.0.3`);
  }
  if (preText !== null && !/^[0-9A-Za-z.-]+$/.test(preText)) {
    throw new TypeError(`\`${text.slice(0, 64)}\` has a malformed pre-release part`);
  }
  return { core: parts.map((p) => BigInt(p)), pre: preText === null ? null : preText.split(".") };
}

function comparePre(a: string[], b: string[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^[0-9]+$/.test(x);
    const yn = /^[0-9]+$/.test(y);
    if (xn && yn) {
      const d = BigInt(x) - BigInt(y);
      if (d !== 0n) return d < 0n ? -1 : 1;
    } else if (xn !== yn) {
      return xn ? -1 : 1;
    } else if (x !== y) {
      return x < y ? -1 : 1;
    }
  }
  return 0;
}

/**
 * Compares dotted versions numerically, component by component, missing
 * components counting as 0 (`7.0.10 > 7.0.9`, `7.0 == 7.0.0`). A pre-release
 * suffix (`7.2.0-beta.1`) sorts before the same version without one, as in
 * SemVer. Returns -1, 0 or 1; throws a TypeError for text that is not a version.
 */
export function compareVersions(a: string, b: string): -1 | 0 | 1 {
  const x = parseVersion(a);
  const y = parseVersion(b);
  for (let i = 0; i < Math.max(x.core.length, y.core.length); i++) {
    const d = (x.core[i] ?? 0n) - (y.core[i] ?? 0n);
    if (d !== 0n) return d < 0n ? -1 : 1;
  }
  if (x.pre === null || y.pre === null) {
    return x.pre === y.pre ? 0 : x.pre === null ? 1 : -1;
  }
  const c = comparePre(x.pre, y.pre);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Whether `text` is a real calendar date written `YYYY-MM-DD`. */
export function isIsoDate(text: string): boolean {
  const m = DATE.exec(text);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === text;
}

/**
 * `activationDate` plus `months` calendar months, clamped to the month's last
 * day (2025-01-31 + 1 month = 2025-02-28), as `YYYY-MM-DD`.
 */
export function addCalendarMonths(activationDate: string, months: number): string {
  const m = DATE.exec(activationDate);
  if (!m || !isIsoDate(activationDate) || !Number.isInteger(months) || months < 0) {
    throw new TypeError("expected a YYYY-MM-DD date and a whole number of months");
  }
  const total = Number(m[1]) * 12 + (Number(m[2]) - 1) + months;
  const year = Math.floor(total / 12);
  const month = total % 12;
  const lastDay = new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
  const day = Math.min(Number(m[3]), lastDay);
  return new Date(Date.UTC(year, month, day)).toISOString().slice(0, 10);
}

/** The UTC day of a UNIX time in seconds, as `YYYY-MM-DD`. */
export function utcDay(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString().slice(0, 10);
}
