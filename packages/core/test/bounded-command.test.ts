import { describe, expect, it } from 'vitest';
import { AAuthError } from '../src/errors.js';
import { boundedCommands, storeFailureText } from '../src/lib/bounded-command.js';

describe('boundedCommands: one command to a shared store, bounded in time and in number', () => {
  const options = { code: 'store_unavailable' as const, store: 'The shared state store', waiting: 'commands', timeoutMs: 20, maxPending: 2 };

  it('answers what the store answers; a refusal from the store keeps it as cause', async () => {
    const run = boundedCommands({ ...options, status: () => 'ready' });
    expect(await run(() => Promise.resolve('OK'))).toBe('OK');
    const said = new Error("NOPERM User default has no permissions to run the 'eval' command");
    const e = (await run(() => Promise.reject(said)).catch((x: unknown) => x)) as AAuthError;
    expect([e.code, e.status, e.message, e.headers['Retry-After']]).toEqual(['store_unavailable', 503, 'The shared state store failed', '1']);
    expect(e.cause).toBe(said);
    expect(storeFailureText(e)).toBe("The shared state store failed: NOPERM User default has no permissions to run the 'eval' command");
    expect(run.pending).toBe(0);
  });

  it('counts a command until the store answers it, not until its caller gives up', async () => {
    let answer: (v: string) => void = () => {};
    const run = boundedCommands({ ...options, status: () => undefined });
    const late = () => new Promise<string>((resolve) => (answer = resolve));
    const timedOut = await Promise.all([run(late).catch((x: AAuthError) => x.message), run(late).catch((x: AAuthError) => x.message)]);
    expect(timedOut).toEqual(['The shared state store did not answer within 20 ms', 'The shared state store did not answer within 20 ms']);
    expect(run.pending).toBe(2);
    let sent = false;
    await expect(run(() => ((sent = true), Promise.resolve('x')))).rejects.toThrow('Too many commands are waiting for the shared state store');
    expect(sent).toBe(false);
    answer('late');
    await new Promise((r) => setImmediate(r));
    expect(run.pending).toBe(1);
  });

  it('sends nothing while the client is disconnected; a throwing send is a refusal too', async () => {
    for (const state of ['reconnecting', 'close', 'end']) {
      let sent = false;
      const run = boundedCommands({ ...options, status: () => state });
      await expect(run(() => ((sent = true), Promise.resolve(1)))).rejects.toThrow('The shared state store is not connected');
      expect(sent).toBe(false);
    }
    const run = boundedCommands({ ...options, status: () => 'ready' });
    await expect(
      run(() => {
        throw new TypeError('bad arguments');
      }),
    ).rejects.toMatchObject({ code: 'store_unavailable', message: 'The shared state store failed' });
    expect(run.pending).toBe(0);
  });

  it('storeFailureText: the message alone without a cause, control characters out of Redis words', () => {
    expect(storeFailureText(new AAuthError('store_unavailable', 'The shared state store is not connected'))).toBe('The shared state store is not connected');
    expect(storeFailureText(new AAuthError('store_unavailable', 'x', { cause: new Error('OOM\r\ncommand not allowed') }))).toBe('x: OOM command not allowed');
    expect(storeFailureText('plain')).toBe('plain');
  });
});
