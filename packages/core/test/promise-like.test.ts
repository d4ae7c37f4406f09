import { describe, expect, it } from 'vitest';
import { catchRejection, isPromiseLike } from '../src/lib/promise-like.js';

describe('catchRejection: what an application hook returned, not awaited', () => {
  it('hands the rejection of a returned promise (an async hook) to onRejected; anything else is left alone', async () => {
    const seen: unknown[] = [];
    catchRejection(Promise.reject(new Error('store down')), (error) => seen.push((error as Error).message));
    catchRejection(Promise.resolve('fine'), (error) => seen.push(error));
    catchRejection(undefined, (error) => seen.push(error));
    catchRejection({ then: 'not a function' }, (error) => seen.push(error));
    // A thenable that is not a native promise is handled too.
    catchRejection({ then: (_ok: unknown, fail: (e: unknown) => void) => fail('thenable refused') }, (error) => seen.push(error));
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen.sort()).toEqual(['store down', 'thenable refused']);
    expect([isPromiseLike(Promise.resolve()), isPromiseLike(null), isPromiseLike({ then() {} }), isPromiseLike('then')]).toEqual([true, false, true, false]);
  });
});
