import { describe, expect, it } from 'vitest';
import { ListMemo } from '@aauth-kit/core/internal';

describe('ListMemo: values found again by the content of a list of strings', () => {
  it('a new array with the same strings is a hit; another order or another string is not', () => {
    const memo = new ListMemo<string>();
    let made = 0;
    const make = (list: readonly string[]) => `${++made}:${list.join(',')}`;
    expect(memo.get(['content-type', 'content-digest'], make)).toBe('1:content-type,content-digest');
    expect(memo.get(['content-type', 'content-digest'], make)).toBe('1:content-type,content-digest');
    expect(memo.get(['content-digest', 'content-type'], make)).toBe('2:content-digest,content-type');
    expect(memo.get(['content-type'], make)).toBe('3:content-type');
    expect(memo.get(['content-type', 'content-digest', 'x'], make)).toBe('4:content-type,content-digest,x');
    expect(made).toBe(4);
  });

  it('a list changed in place after it was passed is answered by what it holds now', () => {
    const memo = new ListMemo<string>();
    const list = ['a'];
    const make = (l: readonly string[]) => l.join('+');
    expect(memo.get(list, make)).toBe('a');
    list.push('b');
    expect(memo.get(list, make)).toBe('a+b');
    list.length = 1;
    expect(memo.get(list, make)).toBe('a');
    // The memo kept copies: the entry for ['a'] was not changed by the pushes.
    expect(memo.get(['a'], () => 'made again')).toBe('a');
  });

  it('holds at most its bound, dropping the oldest', () => {
    const memo = new ListMemo<number>(3);
    let made = 0;
    const make = () => ++made;
    for (const s of ['a', 'b', 'c', 'd']) memo.get([s], make);
    expect(made).toBe(4);
    expect(memo.get(['d'], make)).toBe(4);
    expect(memo.get(['b'], make)).toBe(2);
    expect(memo.get(['a'], make)).toBe(5); // dropped when 'd' came in
    expect(made).toBe(5);
  });
});
