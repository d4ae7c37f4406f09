/**
 * A value taken from the wire (a token's header or claims, a metadata document, a server's answer)
 * as an error message shows it: a string quoted and cut to `max` characters, a number or boolean as
 * itself, a short array of those inline, anything else by its kind. Never recursive: a claim nested
 * thousands deep (JSON.parse takes it, JSON.stringify overflows the stack) is "an array of 1 item",
 * not a RangeError that becomes a 500.
 */
export function showValue(value: unknown, max = 60): string {
  const shown = scalar(value, max);
  if (shown !== undefined) return shown;
  if (Array.isArray(value)) {
    const items = value.length <= 4 ? value.map((v) => scalar(v, max)) : [];
    if (value.length > 0 && items.length === value.length && items.every((s) => s !== undefined)) return `[${items.join(',')}]`;
    return value.length === 0 ? '[]' : `an array of ${value.length} item${value.length === 1 ? '' : 's'}`;
  }
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function scalar(value: unknown, max: number): string | undefined {
  if (typeof value === 'string') return JSON.stringify(value.length > max ? `${value.slice(0, max)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  return undefined;
}
