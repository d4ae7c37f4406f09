/**
 * Whether `prefix` holds a Redis Cluster hash tag: a `{`, then at least one character, then the
 * first `}` after it. Every key that starts with such a prefix hashes on the tag alone, so all the
 * keys of one store (and the several keys one of its Lua scripts or an MGET touches) are in one slot.
 */
export function hasHashTag(prefix: string): boolean {
  const open = prefix.indexOf('{');
  if (open === -1) return false;
  const close = prefix.indexOf('}', open + 1);
  return close > open + 1;
}

/** The prefix to suggest in place of `prefix`: its text (braces dropped) as a hash tag, e.g. `aauth:prod:` -> `{aauth:prod}:`. */
export function hashTagged(prefix: string): string {
  return `{${prefix.replace(/[{}]/g, '').replace(/:$/, '') || 'aauth'}}:`;
}

/**
 * The problem with a store's key prefix on `client`, or undefined: on an ioredis Cluster client
 * (`isCluster`) the prefix must hold a hash tag, since the store's scripts and reads touch several
 * keys at once and a cluster answers CROSSSLOT for keys in different slots. `path` names the option.
 */
export function redisClusterPrefixProblem(client: unknown, prefix: string, path: string): string | undefined {
  const cluster = typeof client === 'object' && client !== null && (client as { isCluster?: unknown }).isCluster === true;
  if (!cluster || hasHashTag(prefix)) return undefined;
  return (
    `${path} ${JSON.stringify(prefix)} has no hash tag, and the client is a Redis Cluster: the store's operations touch several keys at once, ` +
    `which a cluster allows only within one slot. Give a prefix with a hash tag, e.g. ${JSON.stringify(hashTagged(prefix))}`
  );
}
