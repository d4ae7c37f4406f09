/**
 * Options objects are checked for names they do not know: a misspelt option (`scopes` for `scope`,
 * `authserver` for `authServer`) would otherwise be dropped without a word, and a route meant to
 * need an auth token would take any signature.
 */

/** The option names of an interface, typed against it (`optionNames<Options>({ a: true, ... })`): the compiler holds the list to the type. */
export function optionNames<T>(record: Record<keyof T, true>): ReadonlySet<string> {
  return new Set(Object.keys(record));
}

/** Edit distance (insert, delete, replace; a swap of two neighbours counts once), stopping above `max`. */
function distance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    let best = i;
    for (let j = 1; j <= b.length; j++) {
      let d = Math.min(previous[j]! + 1, row[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      row.push(d);
      if (d < best) best = d;
    }
    if (best > max) return max + 1;
    before = previous;
    previous = row;
  }
  return previous[b.length]!;
}

/**
 * The known name `name` was most likely meant as: the same letters in another case or number
 * (`Scopes`, `maxEntry`), else the nearest within two edits (one for short names), else the
 * shortest known name it begins (`signingAlg`).
 */
export function nearestName(name: string, known: Iterable<string>): string | undefined {
  const lower = name.toLowerCase();
  const stem = singular(lower);
  let nearest: string | undefined;
  let best = name.length < 5 ? 1 : 2;
  let prefixed: string | undefined;
  for (const candidate of known) {
    const other = candidate.toLowerCase();
    if (other === lower || singular(other) === stem) return candidate;
    // A name cut short (signingAlg for signingAlgorithm): the shortest known name it begins.
    if (lower.length >= 4 && other.startsWith(lower) && (prefixed === undefined || candidate.length < prefixed.length)) prefixed = candidate;
    const d = distance(lower, candidate.toLowerCase(), best);
    if (d < best || (d === best && nearest === undefined)) {
      best = d;
      nearest = candidate;
    }
  }
  return nearest ?? prefixed;
}

/** `entries` and `entry`, `scopes` and `scope` alike. */
function singular(name: string): string {
  if (name.endsWith('ies')) return `${name.slice(0, -3)}y`;
  return name.endsWith('s') ? name.slice(0, -1) : name;
}

/**
 * Throws a TypeError for the first own key of `value` that is not in `known`:
 * `${path}.${key} is not an option of ${owner}` (or `is not an option` without an owner), then
 * `hints[key]` when given (where that setting goes instead), else the nearest known name, else the
 * list of known names.
 */
export function assertKnownOptions(value: object, known: ReadonlySet<string>, path: string, owner?: string, hints?: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(value)) {
    if (known.has(key)) continue;
    const hint = hints !== undefined && Object.hasOwn(hints, key) ? hints[key] : undefined;
    const nearest = hint === undefined ? nearestName(key, known) : undefined;
    const shown = JSON.stringify(key).slice(1, -1).slice(0, 64);
    const tail = hint !== undefined ? `: ${hint}` : nearest !== undefined ? ` (did you mean ${nearest}?)` : ` (its options: ${[...known].join(', ')})`;
    throw new TypeError(`${path}.${shown} is not an option${owner === undefined ? '' : ` of ${owner}`}${tail}`);
  }
}

/**
 * One line for an error of node's `util.parseArgs` (`ERR_PARSE_ARGS_*`), for a command line: an
 * unknown option names the nearest known one (`--realms` for `--relam`), node's advice about
 * positionals starting with `-` is dropped, and any other error keeps its first sentence.
 */
export function argumentErrorText(error: unknown, known: Iterable<string>): string {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  const first = String(message ?? error).split('\n')[0]!;
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const given = /^Unknown option '([^']*)'/.exec(first)?.[1];
    if (given !== undefined) {
      const bare = given.replace(/^-+/, '').split('=')[0]!;
      // Only a name with the same first letter: two edits of a five-letter flag reach too far (--isuer is not --user).
      const found = bare.length > 0 ? nearestName(bare, known) : undefined;
      const nearest = found !== undefined && found[0]?.toLowerCase() === bare[0]?.toLowerCase() ? found : undefined;
      return `unknown option ${given}${nearest === undefined ? '' : ` (did you mean --${nearest}?)`}`;
    }
  }
  if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const given = /^Unexpected argument '([^']*)'/.exec(first)?.[1];
    if (given !== undefined) return `unexpected argument ${JSON.stringify(given)}: this command takes options only`;
  }
  const cut = first.indexOf('. To specify');
  return cut === -1 ? first : first.slice(0, cut);
}

/**
 * A single-valued option given more than once, as node's `parseArgs` tokens show it (`tokens:
 * true`): its text (`--port was given 2 times: give it once`), else undefined. node keeps the last
 * value silently, which a typo in a long command line would hide.
 */
export function repeatedOptionText(tokens: ReadonlyArray<{ kind: string; name?: string; rawName?: string }> | undefined, options: Readonly<Record<string, { type: string; multiple?: boolean }>>): string | undefined {
  const seen = new Map<string, number>();
  for (const token of tokens ?? []) {
    if (token.kind !== 'option' || token.name === undefined || options[token.name]?.multiple === true) continue;
    const count = (seen.get(token.name) ?? 0) + 1;
    seen.set(token.name, count);
  }
  for (const [name, count] of seen) if (count > 1) return `--${name} was given ${count} times: give it once`;
  return undefined;
}
