/**
 * The one `act` (actor chain) rule of the kit, used wherever a token is accepted or issued.
 *
 * - Each level is a JSON object that names its actor: `agent` (the AAuth form, wire profile
 *   section 7: `{"agent", "sub", "act"}`) or `sub` (the RFC 8693 section 4.1 form the OAuth token
 *   endpoint issues), as a non-empty string. When present, `agent` and `sub` are strings; other
 *   members (e.g. an RFC 8693 `iss`) are ignored.
 * - The OAuth endpoint nests an AAuth level under an RFC 8693 one, so one chain may mix both forms.
 * - At most {@link ACT_MAX_DEPTH} levels: the wire profile's delegation limit (section 8, the
 *   default of `aauth.exchange.max.depth`, section 10). A realm may issue less deep, never deeper.
 */

/** Deepest `act` chain accepted or issued anywhere in the kit (wire profile sections 8 and 10). */
export const ACT_MAX_DEPTH = 10;

/** Why `act` breaks the rule above, or undefined when it is a valid chain (or absent). */
export function actChainProblem(act: unknown): string | undefined {
  let node = act;
  let depth = 0;
  while (node !== undefined) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      return depth === 0 ? 'act is not an object' : `act level ${depth + 1} is not an object`;
    }
    const level = node as Record<string, unknown>;
    depth++;
    if (depth > ACT_MAX_DEPTH) return `act chain is deeper than ${ACT_MAX_DEPTH} levels`;
    for (const name of ['agent', 'sub'] as const) {
      if (level[name] !== undefined && typeof level[name] !== 'string') return `act level ${depth}: ${name} is not a string`;
    }
    // Section 7 levels name the agent, RFC 8693 section 4.1 levels the sub: one of them says who acted.
    if (!level.agent && !level.sub) return `act level ${depth} names no actor (agent or sub)`;
    node = level.act;
  }
  return undefined;
}

/** How many levels a chain that passed {@link actChainProblem} has (0 for none). */
export function actChainDepth(act: unknown): number {
  let depth = 0;
  for (let node = act; typeof node === 'object' && node !== null && !Array.isArray(node); node = (node as { act?: unknown }).act) depth++;
  return depth;
}
