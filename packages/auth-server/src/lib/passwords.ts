import { createHash, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import type { RealmUser } from '../load-realm.js';

const MAX_PASSWORD = 1024;

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** True when `password` matches one of the user's realm credentials (plain or Keycloak PBKDF2). */
export function verifyPassword(user: RealmUser, password: string): boolean {
  if (password.length === 0 || password.length > MAX_PASSWORD) return false;
  let ok = false;
  for (const credential of user.passwords) {
    if (credential.kind === 'plain') {
      // Compare digests so the comparison takes the same time whatever the lengths.
      const a = createHash('sha256').update(password, 'utf8').digest();
      const b = createHash('sha256').update(credential.value, 'utf8').digest();
      ok = sameBytes(a, b) || ok;
    } else {
      const derived = pbkdf2Sync(password, credential.salt, credential.iterations, credential.hash.length, credential.digest);
      ok = sameBytes(derived, credential.hash) || ok;
    }
  }
  return ok;
}
