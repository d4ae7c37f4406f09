import { isLocalHostname } from '@aauth-kit/core/internal';
import { hostMatches } from './lib/host-pattern.js';

/**
 * The scheme rule of wire profile section 1: https, or plain http to local names (`localhost`,
 * `127.0.0.1`, `[::1]`, `*.localhost`) and to `allowHttpHosts` only. Undefined when `url` passes.
 */
export function egressProblem(url: URL, allowHttpHosts: readonly string[] = []): string | undefined {
  if (url.protocol === 'https:') return undefined;
  if (url.protocol === 'http:') {
    if (isLocalHostname(url.hostname) || allowHttpHosts.some((h) => hostMatches(h, url))) return undefined;
    return `${url.origin} is not https (plain http is allowed for local names only)`;
  }
  return `the scheme ${url.protocol} is not https`;
}
