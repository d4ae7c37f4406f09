const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** base64url without padding. */
export function b64uEncode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/**
 * Strict base64url (no padding) decode; returns undefined when the text is not base64url. Node's
 * decoder skips characters outside its alphabets, so a skipped one shows as a short result; `+` and
 * `/` (which it accepts) are refused first. Twice as fast as a regular expression over a token.
 */
export function b64uDecode(text: string): Buffer | undefined {
  if (text.length % 4 === 1 || text.includes('+') || text.includes('/')) return undefined;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.length === (text.length * 3) >> 2 ? bytes : undefined;
}

/** Strict standard base64 (padded) decode; undefined when not canonical base64. */
export function b64Decode(text: string): Buffer | undefined {
  if (!B64.test(text)) return undefined;
  return Buffer.from(text, 'base64');
}

/** Decode either padded standard base64 or unpadded base64url (the Python agents' form). */
export function b64AnyDecode(text: string): Buffer | undefined {
  return b64Decode(text) ?? b64uDecode(text);
}
