/**
 * What a failed fetch says about the network: undici rejects with `TypeError: fetch failed` and
 * keeps the reason (`connect ECONNREFUSED 127.0.0.1:3002`, `getaddrinfo ENOTFOUND x`, a TLS
 * error) in `cause`, sometimes an AggregateError of one error per address tried. The message with
 * that reason added, so a log line says why.
 */
export function networkErrorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = reasonOf((error as { cause?: unknown }).cause);
  return cause === undefined || error.message.includes(cause) ? error.message : `${error.message} (${cause})`;
}

function reasonOf(cause: unknown): string | undefined {
  if (typeof cause !== 'object' || cause === null) return undefined;
  const c = cause as { message?: unknown; code?: unknown; errors?: unknown };
  if (typeof c.message === 'string' && c.message.length > 0) return c.message.slice(0, 300);
  if (Array.isArray(c.errors) && c.errors.length > 0) return reasonOf(c.errors[0]);
  return typeof c.code === 'string' ? c.code : undefined;
}
