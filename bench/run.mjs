#!/usr/bin/env node
// `npm run bench`: runs every figure, writes BENCHMARKS.md and bench/results.json.
//   --quick        tiny iteration counts (the smoke test in `npm test` uses it; numbers meaningless)
//   --out DIR      where to write BENCHMARKS.md and results.json (default: the repository root / bench)
//   --only a,b     run only these figure ids
//   --merge        with --only: keep the other figures from the existing results.json (each figure
//                  keeps the date of the run it comes from; the report says which are kept)
//   --render       run nothing: write BENCHMARKS.md again from the existing results.json, with the
//                  notes of bench/optimizations.md as they are now (numbers, dates, command unchanged)
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FIGURES } from './figures/index.mjs';
import { renderReport } from './lib/report.mjs';

const { values } = parseArgs({
  options: { quick: { type: 'boolean' }, out: { type: 'string' }, only: { type: 'string' }, merge: { type: 'boolean' }, render: { type: 'boolean' } },
});
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const notesPath = join(root, 'bench', 'optimizations.md');

if (values.render) {
  const outDir = values.out ?? root;
  const jsonPath = values.out ? join(outDir, 'results.json') : join(root, 'bench', 'results.json');
  const { meta, results } = JSON.parse(readFileSync(jsonPath, 'utf8'));
  if (existsSync(notesPath)) meta.notes = readFileSync(notesPath, 'utf8');
  writeFileSync(jsonPath, `${JSON.stringify({ meta, results }, null, 2)}\n`);
  writeFileSync(join(outDir, 'BENCHMARKS.md'), renderReport(meta, results));
  process.stderr.write(`bench: wrote ${join(outDir, 'BENCHMARKS.md')} again from ${jsonPath} (notes re-read)\n`);
  process.exit(0);
}
const quick = values.quick === true;
const only = values.only ? new Set(values.only.split(',')) : undefined;
const flags = [quick ? '--quick' : '', only ? `--only ${values.only}` : '', values.merge ? '--merge' : ''].filter(Boolean).join(' ');
const command = `npm run bench${flags ? ` -- ${flags}` : ''}`;

const started = Date.now();
const results = [];
for (const figure of FIGURES) {
  if (only && !only.has(figure.id)) continue;
  process.stderr.write(`bench: ${figure.id} ${figure.title}\n`);
  const t0 = Date.now();
  const result = await figure.run({ quick });
  results.push({ id: figure.id, title: figure.title, goal: figure.goal ?? null, seconds: (Date.now() - t0) / 1000, date: new Date().toISOString(), ...result });
}

const meta = {
  date: new Date().toISOString(),
  node: process.version,
  cpu: `${cpus()[0]?.model ?? 'unknown'} x ${cpus().length}`,
  command,
  quick,
  seconds: (Date.now() - started) / 1000,
};
if (existsSync(notesPath)) meta.notes = readFileSync(notesPath, 'utf8');
const outDir = values.out ?? root;
mkdirSync(outDir, { recursive: true });
const jsonPath = values.out ? join(outDir, 'results.json') : join(root, 'bench', 'results.json');
if (values.merge && only && existsSync(jsonPath)) {
  // Keep the figures not run now from the previous results, in the registry's order.
  const previous = JSON.parse(readFileSync(jsonPath, 'utf8'));
  const fresh = new Map(results.map((r) => [r.id, r]));
  const kept = new Map(previous.results.filter((r) => !fresh.has(r.id)).map((r) => [r.id, { ...r, date: r.date ?? previous.meta.date }]));
  meta.kept = [...kept.values()].map((r) => ({ id: r.id, date: r.date }));
  results.splice(0, results.length, ...FIGURES.flatMap((f) => [fresh.get(f.id) ?? kept.get(f.id)].filter(Boolean)));
}
writeFileSync(jsonPath, `${JSON.stringify({ meta, results }, null, 2)}\n`);
writeFileSync(join(outDir, 'BENCHMARKS.md'), renderReport(meta, results));
process.stderr.write(`bench: wrote ${join(outDir, 'BENCHMARKS.md')} and ${jsonPath} in ${meta.seconds.toFixed(0)} s\n`);
