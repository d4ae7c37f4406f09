/**
 * Interaction codes (AAuth -11 "Interaction Code Format", draft-11 profile section 7): Crockford
 * base32, at least 8 symbols (40 bits), hyphens presentational, compared case-insensitively with
 * the decode aliases I/L -> 1 and O -> 0.
 */
import { randomBytes } from 'node:crypto';

/** The Crockford base32 alphabet (no I, L, O, U). */
export const CROCKFORD_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/**
 * A fresh code of `symbols` Crockford symbols (default 8, at least 8), drawn from the CSPRNG, shown
 * in groups of four joined by hyphens (`A1B2-C3D4`).
 */
export function generateInteractionCode(symbols = 8): string {
  if (!Number.isInteger(symbols) || symbols < 8 || symbols > 64) throw new TypeError('symbols must be an integer from 8 to 64');
  const bytes = randomBytes(symbols);
  let code = '';
  // 256 is a multiple of 32: `b & 31` is uniform.
  for (let i = 0; i < symbols; i++) code += CROCKFORD_ALPHABET[bytes[i]! & 31];
  return groupInteractionCode(code);
}

/** A code's symbols as they are shown to a person: groups of four joined by hyphens (`A1B2-C3D4`). */
export function groupInteractionCode(symbols: string): string {
  return symbols.replace(/(.{4})(?=.)/g, '$1-');
}

/**
 * The comparable form of a code as a user or agent sent it: hyphens stripped, upper case, I/L -> 1,
 * O -> 0. Undefined when what remains is not at least 8 Crockford symbols (or longer than 64).
 */
export function normalizeInteractionCode(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length > 128) return undefined;
  const folded = value.replace(/-/g, '').toUpperCase().replace(/[IL]/g, '1').replace(/O/g, '0');
  if (folded.length < 8 || folded.length > 64) return undefined;
  for (const ch of folded) if (!CROCKFORD_ALPHABET.includes(ch)) return undefined;
  return folded;
}
