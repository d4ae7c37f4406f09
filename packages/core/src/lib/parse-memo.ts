/**
 * A small bounded memo of pure header parses, keyed by the exact header text and a variant (the
 * label or options the parse also depends on) (issue 18): the same agent sends the same
 * `Signature-Key` on every request, so its parse is done once. Only values that parsed without
 * error are kept, only texts up to `maxKeyLength` characters, and at most `maxEntries` of them
 * (the oldest stored goes first), so memory stays bounded whatever callers send. What is stored
 * must be frozen: every caller gets the same object. Keyed by the header text itself (no string
 * built per lookup); a different variant of the same text replaces the entry.
 */
export class ParseMemo<V> {
  private readonly map = new Map<string, { variant: string; value: V }>();

  constructor(
    readonly maxEntries: number,
    readonly maxKeyLength: number,
  ) {}

  get size(): number {
    return this.map.size;
  }

  get(text: string, variant: string): V | undefined {
    const entry = this.map.get(text);
    return entry !== undefined && entry.variant === variant ? entry.value : undefined;
  }

  set(text: string, variant: string, value: V): void {
    if (text.length > this.maxKeyLength) return;
    if (this.map.has(text)) this.map.delete(text);
    else if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value as string);
    this.map.set(text, { variant, value });
  }

  clear(): void {
    this.map.clear();
  }
}
