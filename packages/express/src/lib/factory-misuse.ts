/**
 * A factory of this package handed to express itself (`app.get('/x', resource.require, h)`,
 * `app.use(aauthErrorHandler)`) is called with a request as its options and returns a handler that
 * express drops: every request would hang. Such a call is refused instead, with the fix; express
 * passes the TypeError to its error handlers, so the first request fails loudly.
 */
export function refuseRequestAsOptions(first: unknown, factory: string, example: string): void {
  if (typeof first !== 'object' || first === null) return;
  const r = first as { method?: unknown; headers?: unknown; socket?: unknown };
  if (typeof r.method === 'string' && typeof r.headers === 'object' && r.headers !== null && 'socket' in r) {
    throw new TypeError(`${factory} is a factory: mount what it returns, e.g. ${example}, not ${factory} itself (express called it with a request)`);
  }
}
