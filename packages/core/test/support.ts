import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import { AAuthError, ERRORS, type AAuthErrorCode } from '@aauth-kit/core';

/** Run `fn` and return what it threw (fails the test when it does not throw). */
export function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  expect.fail('expected the call to throw');
}

/** Await `promise` and return its rejection (fails the test when it resolves). */
export async function rejected(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  return expect.fail('expected the promise to reject');
}

/** Assert `error` is an AAuthError with `code` and the table's status and wire error. */
export function expectCode(error: unknown, code: AAuthErrorCode, status: number = ERRORS[code][0]): AAuthError {
  expect(error).toBeInstanceOf(AAuthError);
  const e = error as AAuthError;
  expect({ code: e.code, status: e.status }).toEqual({ code, status });
  expect(e.error).toBe(ERRORS[code][1]);
  expect(e.message.length).toBeGreaterThan(0);
  return e;
}

/** `fn` throws an AAuthError with `code` (and the table's status, or `status`). */
export function expectThrowsCode(fn: () => unknown, code: AAuthErrorCode, status?: number): AAuthError {
  return expectCode(thrown(fn), code, status);
}

/** `promise` rejects with an AAuthError with `code`. */
export async function expectRejectsCode(promise: Promise<unknown>, code: AAuthErrorCode, status?: number): Promise<AAuthError> {
  return expectCode(await rejected(promise), code, status);
}

/**
 * A key pair that shares nothing with its generation job (Node 20 can deadlock when a GC finalises
 * the job while its key is exported; see packages/core/src/keys.ts).
 */
export function freshKeyPair(type: 'rsa' | 'ec' | 'ed25519', options: { modulusLength?: number; namedCurve?: string } = {}): { privateKey: KeyObject; publicKey: KeyObject } {
  const der = generateKeyPairSync(type as 'rsa', {
    ...(options as { modulusLength: number }),
    privateKeyEncoding: { format: 'der', type: 'pkcs8' },
    publicKeyEncoding: { format: 'der', type: 'spki' },
  }).privateKey;
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
