import { createHash, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import type { PasswordCredential, RealmUser } from '../load-realm.js';

const MAX_PASSWORD = 1024;
const derive = promisify(pbkdf2);

function sameBytes(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

async function matches(credential: PasswordCredential, password: string): Promise<boolean> {
  if (credential.kind === 'plain') {
    // Compare digests so the comparison takes the same time whatever the lengths.
    const a = createHash('sha256').update(password, 'utf8').digest();
    const b = createHash('sha256').update(credential.value, 'utf8').digest();
    return sameBytes(a, b);
  }
  // Asynchronous PBKDF2 runs on libuv's thread pool: a login never stalls the event loop (finding 3).
  const derived = await derive(password, credential.salt, credential.iterations, credential.hash.length, credential.digest);
  return sameBytes(derived, credential.hash);
}

/** The PBKDF2 rounds a credential costs (a plain one costs about one). */
function cost(credentials: readonly PasswordCredential[]): number {
  return credentials.reduce((sum, c) => sum + (c.kind === 'plain' ? 1 : c.iterations), 0);
}

/**
 * A password check for the realm's users that spends the same work whether or not the user exists
 * (finding 3): an unknown user name is checked against decoy credentials shaped like the costliest
 * user's (same algorithm, rounds, salt and hash lengths, random values), so the answer's timing does
 * not tell which user names exist. A disabled user's own credentials are checked, then refused.
 */
export function createPasswordCheck(users: readonly RealmUser[]): (user: RealmUser | undefined, password: string) => Promise<boolean> {
  const costliest = users.reduce<readonly PasswordCredential[]>((best, u) => (cost(u.passwords) > cost(best) ? u.passwords : best), []);
  const decoy: PasswordCredential[] = costliest.map((c) =>
    c.kind === 'plain'
      ? { kind: 'plain', value: randomBytes(16).toString('base64url') }
      : { kind: 'pbkdf2', digest: c.digest, iterations: c.iterations, salt: randomBytes(c.salt.length), hash: randomBytes(c.hash.length) },
  );
  return async (user, password) => {
    if (password.length === 0 || password.length > MAX_PASSWORD) return false;
    const credentials = user === undefined ? decoy : user.passwords;
    // Every credential is checked (no early exit), so a user's answer does not depend on which one matched.
    const results = await Promise.all(credentials.map((c) => matches(c, password)));
    return user !== undefined && user.enabled && results.some(Boolean);
  };
}

/** True when `password` matches one of the user's realm credentials (plain or Keycloak PBKDF2), computed off the event loop. */
export async function verifyPassword(user: RealmUser, password: string): Promise<boolean> {
  if (password.length === 0 || password.length > MAX_PASSWORD) return false;
  const results = await Promise.all(user.passwords.map((c) => matches(c, password)));
  return results.some(Boolean);
}
