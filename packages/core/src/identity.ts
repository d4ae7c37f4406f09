/** Host names for which plain `http` is acceptable (wire profile section 1). */
export function isLocalHostname(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return isLocalhostName(h) || h === '127.0.0.1' || h === '[::1]' || h === '::1';
}

/** `localhost` and the names under it (RFC 6761 section 6.3), given lower-cased as URL host names are. */
export function isLocalhostName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost');
}

/**
 * Why an identity URL or issuer is unacceptable, or undefined when it is fine: it must be an
 * absolute `https` URL (plain `http` only for local names), with no trailing slash, query,
 * fragment or credentials (identities are compared byte for byte).
 */
export function identityUrlProblem(value: unknown): string | undefined {
  if (typeof value !== 'string' || value.length === 0) return 'must be a non-empty string';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'must be an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must use https (or http for local names)';
  if (url.protocol === 'http:' && !isLocalHostname(url.hostname)) {
    return 'must use https unless the host is localhost, 127.0.0.1, [::1] or *.localhost';
  }
  if (url.username || url.password) return 'must not contain credentials';
  if (url.search || url.hash || value.includes('?') || value.includes('#')) return 'must not have a query or fragment';
  if (value.endsWith('/')) return 'must not end with a slash';
  return undefined;
}

/** Throw a `TypeError` naming `path` when `value` is not an acceptable identity URL. */
export function assertIdentityUrl(value: unknown, path: string): asserts value is string {
  const problem = identityUrlProblem(value);
  if (problem) throw new TypeError(`${path} ${problem} (got ${JSON.stringify(value)})`);
}
