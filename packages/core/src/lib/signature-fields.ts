/**
 * Strict fast paths for the two per-request signature fields (issue 18): `Signature-Input` and
 * `Signature` in their canonical RFC 8941 serialisation, the only form signers emit, scanned in
 * one pass with no intermediate items. Each scanner either accepts, and then its result is exactly
 * what the general parser (lib/sfv.ts) followed by the checks of verify-request.ts gives, or
 * returns undefined, and the caller runs the general parser, which decides (and names every
 * refusal) as it always has. So behaviour is identical on every input; property tests hold the two
 * against each other.
 *
 * Canonical here means: members joined by exactly `, `, no leading or trailing whitespace; keys by
 * the RFC grammar; inner lists of strings without parameters, joined by single spaces; strings
 * without escapes; non-negative integers of at most 15 digits without leading zeros; tokens. Any
 * other shape (another member form, a decimal, a byte sequence or boolean value, a repeated
 * parameter or label, a string with `\` or `"`) is left to the general parser.
 */
import type { SignatureParams } from '../signature-base.js';

/** Longest field the general parser reads (lib/sfv.ts); longer ones are its to refuse. */
const MAX_LENGTH = 64 * 1024;

// Character classes of the ASCII range, as bit flags.
const KEY_FIRST = 1; // lcalpha / "*"
const KEY = 2; // lcalpha / DIGIT / "_" / "-" / "." / "*"
const TOKEN_FIRST = 4; // ALPHA / "*"
const TOKEN = 8; // tchar / ":" / "/"
const BYTES = 16; // the byte-sequence characters lib/sfv.ts accepts: base64 and base64url

const CLASS = /* @__PURE__ */ (() => {
  const table = new Uint8Array(128);
  const add = (chars: string, flag: number): void => {
    for (let i = 0; i < chars.length; i++) table[chars.charCodeAt(i)]! |= flag;
  };
  const lower = 'abcdefghijklmnopqrstuvwxyz';
  const upper = lower.toUpperCase();
  const digits = '0123456789';
  add(`${lower}*`, KEY_FIRST);
  add(`${lower}${digits}_-.*`, KEY);
  add(`${lower}${upper}*`, TOKEN_FIRST);
  add(`${lower}${upper}${digits}!#$%&'*+-.^_\`|~:/`, TOKEN);
  add(`${lower}${upper}${digits}+/=_-`, BYTES);
  return table;
})();

const is = (code: number, flag: number): boolean => code < 128 && (CLASS[code]! & flag) !== 0;

/** End of the key starting at `pos`, or -1 when none starts there. */
function keyEnd(s: string, pos: number): number {
  if (pos >= s.length || !is(s.charCodeAt(pos), KEY_FIRST)) return -1;
  let i = pos + 1;
  while (i < s.length && is(s.charCodeAt(i), KEY)) i++;
  return i;
}

/** End (past the closing quote) of the escape-free string whose opening quote is at `pos`, or -1. */
function stringEnd(s: string, pos: number): number {
  for (let i = pos + 1; i < s.length; i++) {
    const code = s.charCodeAt(i);
    if (code === 0x22 /* " */) return i + 1;
    if (code === 0x5c /* \ */ || code < 0x20 || code > 0x7e) return -1;
  }
  return -1;
}

/** After a member ending at `pos`: the start of the next member (past `, `), the length at the end, or -1. */
function nextMember(s: string, pos: number): number {
  if (pos === s.length) return pos;
  return s.charCodeAt(pos) === 0x2c /* , */ && s.charCodeAt(pos + 1) === 0x20 && pos + 2 < s.length ? pos + 2 : -1;
}

/** A `Signature-Input` member, scanned: what `parseInputMember` in verify-request.ts derives from it. */
export interface ScannedInput {
  components: string[];
  params: SignatureParams;
  created: number | undefined;
  expires: number | undefined;
  nonce: string | undefined;
  /** The member's text, which is its canonical serialisation: the `@signature-params` value. */
  serialized: string;
}

/** Scan one inner-list member at `pos` (its `(`); `out` collects its parts. End of the member, or -1. */
function scanInnerList(s: string, pos: number, out: ScannedInput | undefined): number {
  if (s.charCodeAt(pos) !== 0x28 /* ( */) return -1;
  let i = pos + 1;
  if (s.charCodeAt(i) !== 0x29 /* ) */) {
    for (;;) {
      if (s.charCodeAt(i) !== 0x22) return -1;
      const end = stringEnd(s, i);
      if (end < 0) return -1;
      out?.components.push(s.slice(i + 1, end - 1));
      const next = s.charCodeAt(end);
      if (next === 0x29) {
        i = end;
        break;
      }
      if (next !== 0x20) return -1;
      i = end + 1;
    }
  }
  i++; // past ")"
  // Parameters: `;key` or `;key=value`.
  while (s.charCodeAt(i) === 0x3b /* ; */) {
    const kStart = i + 1;
    const kEnd = keyEnd(s, kStart);
    if (kEnd < 0) return -1;
    const name = s.slice(kStart, kEnd);
    let value: string | number | true = true;
    let quoted = false;
    i = kEnd;
    if (s.charCodeAt(i) === 0x3d /* = */) {
      i++;
      const code = s.charCodeAt(i);
      if (code === 0x22) {
        const end = stringEnd(s, i);
        if (end < 0) return -1;
        value = s.slice(i + 1, end - 1);
        quoted = true;
        i = end;
      } else if (code >= 0x30 && code <= 0x39) {
        const start = i;
        i++;
        if (code !== 0x30) while (i < s.length && s.charCodeAt(i) >= 0x30 && s.charCodeAt(i) <= 0x39) i++;
        if (i - start > 15) return -1;
        const after = s.charCodeAt(i);
        if (after === 0x2e /* . */ || (after >= 0x30 && after <= 0x39)) return -1;
        value = Number(s.slice(start, i));
      } else if (is(code, TOKEN_FIRST)) {
        const start = i;
        i++;
        while (i < s.length && is(s.charCodeAt(i), TOKEN)) i++;
        value = s.slice(start, i);
      } else {
        return -1;
      }
    }
    // A repeated parameter is re-ordered by the general parser: not canonical.
    if (out !== undefined) {
      for (let p = 0; p < out.params.length; p++) if (out.params[p]![0] === name) return -1;
      if (name === 'created' || name === 'expires') {
        if (typeof value !== 'number') return -1;
        if (name === 'created') out.created = value;
        else out.expires = value;
      } else if (name === 'nonce') {
        if (!quoted) return -1;
        out.nonce = value as string;
      }
      out.params.push([name, value as string | number]);
    }
  }
  return i;
}

/**
 * The `Signature-Input` member labelled `label`, when the whole field is canonical and holds it
 * exactly once with covered components and the `created`, `expires`, `nonce` types the profile
 * needs; else undefined (the general parser decides).
 */
export function scanSignatureInput(s: string, label: string): ScannedInput | undefined {
  if (s.length > MAX_LENGTH) return undefined;
  let found: ScannedInput | undefined;
  let pos = 0;
  while (pos < s.length) {
    const kEnd = keyEnd(s, pos);
    if (kEnd < 0 || s.charCodeAt(kEnd) !== 0x3d /* = */) return undefined;
    const mine = kEnd - pos === label.length && s.startsWith(label, pos);
    if (mine && found !== undefined) return undefined;
    const out: ScannedInput | undefined = mine
      ? { components: [], params: [], created: undefined, expires: undefined, nonce: undefined, serialized: '' }
      : undefined;
    const end = scanInnerList(s, kEnd + 1, out);
    if (end < 0) return undefined;
    if (out !== undefined) {
      out.serialized = s.slice(kEnd + 1, end);
      found = out;
    }
    pos = nextMember(s, end);
    if (pos < 0) return undefined;
  }
  return found;
}

/**
 * The text between the colons of the `Signature` member labelled `label`, when the whole field is
 * byte-sequence members without parameters, joined canonically, and holds it exactly once; else
 * undefined. The other members' characters are checked here; the selected member's are not: the
 * caller accepts the result only if it decodes as standard base64 (whose characters are all byte-
 * sequence characters), and otherwise leaves the field to the general parser.
 */
export function scanSignature(s: string, label: string): string | undefined {
  if (s.length > MAX_LENGTH) return undefined;
  let found: string | undefined;
  let pos = 0;
  while (pos < s.length) {
    const kEnd = keyEnd(s, pos);
    if (kEnd < 0 || s.charCodeAt(kEnd) !== 0x3d || s.charCodeAt(kEnd + 1) !== 0x3a /* : */) return undefined;
    const start = kEnd + 2;
    const end = s.indexOf(':', start);
    if (end < 0) return undefined;
    if (kEnd - pos === label.length && s.startsWith(label, pos)) {
      if (found !== undefined) return undefined;
      found = s.slice(start, end);
    } else {
      for (let i = start; i < end; i++) if (!is(s.charCodeAt(i), BYTES)) return undefined;
    }
    pos = nextMember(s, end + 1);
    if (pos < 0) return undefined;
  }
  return found;
}
