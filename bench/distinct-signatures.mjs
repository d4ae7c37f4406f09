// Raw libsodium Ed25519 verifies: one signature verified over and over against 4,096 distinct
// signatures (as distinct requests carry) taken in turn, alternated, five pairs of 0.7 s each.
// Why the figures' baselines verify the very requests they compare with (bench/lib/ed25519.mjs
// rawPoolVerifiers). Run: `taskset -c 0 node bench/distinct-signatures.mjs` (needs sodium-native).
import { createRequire } from 'node:module';

const sodium = createRequire(import.meta.url)('sodium-native');
const pk = Buffer.alloc(32);
const sk = Buffer.alloc(64);
sodium.crypto_sign_keypair(pk, sk);
const N = 4096;
const pool = [];
for (let i = 0; i < N; i++) {
  const m = Buffer.from(`"@method": GET\n"@authority": localhost:1234\n"@path": /plan\n"@signature-params": ("@method");created=1796173325;nonce="${i.toString(36).padStart(22, 'x')}"`);
  const s = Buffer.alloc(64);
  sodium.crypto_sign_detached(s, m, sk);
  pool.push([m, s]);
}
/** Microseconds per call of fn(i), over `ms`. */
const usPer = (fn, ms = 700) => {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 50; i++) fn(n + i);
    n += 50;
  }
  return ((performance.now() - t0) * 1000) / n;
};
const check = (ok) => {
  if (!ok) throw new Error('verify failed');
};
const same = () => check(sodium.crypto_sign_verify_detached(pool[0][1], pool[0][0], pk));
const distinct = (i) => check(sodium.crypto_sign_verify_detached(pool[i % N][1], pool[i % N][0], pk));
for (let r = 0; r < 5; r++) {
  const a = usPer(same);
  const b = usPer(distinct);
  console.log(`one signature repeated: ${a.toFixed(2)} us; distinct signatures in turn: ${b.toFixed(2)} us (${(b / a).toFixed(3)}x)`);
}
