// Measurement helpers: interleaved rounds of subject and baseline in the same process, so that the
// ratio holds on a shared, noisy machine even when absolute times drift.

/** Run `fn(i)` `iterations` times (sync or async) and return operations per second. */
export async function opsPerSecond(fn, iterations) {
  const first = fn(0);
  const isAsync = first && typeof first.then === 'function';
  if (isAsync) await first;
  const t0 = process.hrtime.bigint();
  if (isAsync) {
    for (let i = 1; i <= iterations; i++) await fn(i);
  } else {
    for (let i = 1; i <= iterations; i++) fn(i);
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  return iterations / seconds;
}

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Relative spread of a sample: (max - min) / median. */
export function spread(values) {
  const m = median(values);
  return m === 0 ? 0 : (Math.max(...values) - Math.min(...values)) / m;
}

/**
 * Compare named subjects against a baseline: `rounds` rounds, each running every subject and the
 * baseline once (order rotated per round), `iterations` operations each, after a warm-up.
 * Returns per-subject median ops/s, spread, and the median of per-round ratios to the baseline.
 */
export async function compare({ baseline, subjects, iterations, rounds, warmup = Math.max(10, iterations >> 2) }) {
  const all = { baseline, ...subjects };
  const names = Object.keys(all);
  for (const name of names) await opsPerSecond(all[name], warmup);
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  for (let r = 0; r < rounds; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) samples[name].push(await opsPerSecond(all[name], iterations));
  }
  const result = { baseline: { opsPerSec: median(samples.baseline), spread: spread(samples.baseline) }, subjects: {} };
  for (const name of Object.keys(subjects)) {
    const ratios = samples[name].map((v, i) => v / samples.baseline[i]);
    result.subjects[name] = {
      opsPerSec: median(samples[name]),
      spread: spread(samples[name]),
      ratio: median(ratios),
      ratioSpread: spread(ratios),
    };
  }
  return result;
}
