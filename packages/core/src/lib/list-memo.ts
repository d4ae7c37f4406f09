/**
 * Values made from short lists of strings, found again by the lists' content: a caller may pass a
 * new array with the same strings on every call, or change in place one it passed before, and is
 * answered by what its list holds now. A few entries, the newest first; the oldest is dropped.
 */
export class ListMemo<V> {
  readonly #lists: (readonly string[])[] = [];
  readonly #values: V[] = [];
  readonly #max: number;

  constructor(max = 8) {
    this.#max = max;
  }

  /** The value made for a list with these strings in this order, else `make(list)`, kept. */
  get(list: readonly string[], make: (list: readonly string[]) => V): V {
    for (let i = 0; i < this.#lists.length; i++) {
      if (sameList(this.#lists[i]!, list)) return this.#values[i]!;
    }
    const value = make(list);
    this.#lists.unshift(list.slice());
    this.#values.unshift(value);
    if (this.#lists.length > this.#max) {
      this.#lists.pop();
      this.#values.pop();
    }
    return value;
  }
}

/** The same strings in the same order. */
function sameList(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
