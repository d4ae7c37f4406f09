import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileAuditSink, type AuditEvent } from '@aauth-kit/auth-server';

// Issue 17: the JSON-lines file sink rotates by size, between lines, keeping N files; nothing is
// lost or split, and events keep the order write() took them in.

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'aauth-audit-file-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const event = (i: number, pad = ''): AuditEvent => ({ type: 'token.issued', time: 1_700_000_000 + i, endpoint: 'token', agent: 'https://agent.example', jti: `jti-${i}`, scope: pad });
const lineOf = (e: AuditEvent) => `${JSON.stringify(e)}\n`;
const read = (file: string) => readFileSync(file, 'utf8');
const jtisOf = (file: string) => read(file).split('\n').filter(Boolean).map((l) => (JSON.parse(l) as AuditEvent).jti);

describe('createFileAuditSink', () => {
  it('writes one JSON line per event, in order', async () => {
    const path = join(dir, 'audit.jsonl');
    const sink = createFileAuditSink({ path, onWarning: () => {} });
    for (let i = 0; i < 3; i++) sink.write(event(i));
    await sink.close();
    expect(read(path)).toBe([0, 1, 2].map((i) => lineOf(event(i))).join(''));
    expect(sink.stats()).toEqual({ written: 3, dropped: 0, buffered: 0 });
  });

  it('writes the C1 controls (CSI), DEL, line separators and bidi overrides of request text as \\u escapes: same JSON, no terminal commands', async () => {
    const path = join(dir, 'audit.jsonl');
    const sink = createFileAuditSink({ path, onWarning: () => {} });
    // A user name typed at sign-in lands in login.failed as it was typed.
    const hostile: AuditEvent = { type: 'login.failed', time: 1_700_000_000, endpoint: 'interact', username: 'eve\u009b2J\u009b31m\u007f\u2028\u2029\u202egnp.exe\u2066x\u2069\u0085' };
    sink.write(hostile);
    await sink.close();
    const text = read(path);
    expect(text).not.toMatch(/[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/);
    expect(text).toContain('eve\\u009b2J\\u009b31m\\u007f\\u2028\\u2029\\u202egnp.exe\\u2066x\\u2069\\u0085');
    expect(text.split('\n')).toHaveLength(2);
    expect(JSON.parse(text)).toEqual(hostile);
  });

  it('rotates exactly at the boundary: a line that fits stays, the next one starts the new file', async () => {
    const path = join(dir, 'audit.jsonl');
    const one = Buffer.byteLength(lineOf(event(0)));
    // Room for exactly two lines of this size.
    const sink = createFileAuditSink({ path, maxBytes: 2 * one, keep: 3, onWarning: () => {} });
    for (let i = 0; i < 5; i++) sink.write(event(i));
    await sink.close();
    expect(readdirSync(dir).sort()).toEqual(['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
    expect(jtisOf(`${path}.2`)).toEqual(['jti-0', 'jti-1']);
    expect(jtisOf(`${path}.1`)).toEqual(['jti-2', 'jti-3']);
    expect(jtisOf(path)).toEqual(['jti-4']);
    expect(Buffer.byteLength(read(`${path}.2`))).toBe(2 * one);
  });

  it('one byte less than two lines: each file holds one line', async () => {
    const path = join(dir, 'audit.jsonl');
    const one = Buffer.byteLength(lineOf(event(0)));
    const sink = createFileAuditSink({ path, maxBytes: 2 * one - 1, keep: 5, onWarning: () => {} });
    for (let i = 0; i < 3; i++) sink.write(event(i));
    await sink.close();
    expect([jtisOf(`${path}.2`), jtisOf(`${path}.1`), jtisOf(path)]).toEqual([['jti-0'], ['jti-1'], ['jti-2']]);
  });

  it('keeps only `keep` rotated files, deleting the oldest', async () => {
    const path = join(dir, 'audit.jsonl');
    const one = Buffer.byteLength(lineOf(event(0)));
    const sink = createFileAuditSink({ path, maxBytes: one, keep: 2, onWarning: () => {} });
    for (let i = 0; i < 6; i++) sink.write(event(i));
    await sink.close();
    expect(readdirSync(dir).sort()).toEqual(['audit.jsonl', 'audit.jsonl.1', 'audit.jsonl.2']);
    expect([jtisOf(`${path}.2`), jtisOf(`${path}.1`), jtisOf(path)]).toEqual([['jti-3'], ['jti-4'], ['jti-5']]);
  });

  it('a line larger than maxBytes gets a file of its own, whole', async () => {
    const path = join(dir, 'audit.jsonl');
    const sink = createFileAuditSink({ path, maxBytes: 200, keep: 5, onWarning: () => {} });
    sink.write(event(0));
    sink.write(event(1, 'x'.repeat(500)));
    sink.write(event(2));
    await sink.close();
    expect([jtisOf(`${path}.2`), jtisOf(`${path}.1`), jtisOf(path)]).toEqual([['jti-0'], ['jti-1'], ['jti-2']]);
    expect(read(`${path}.1`)).toBe(lineOf(event(1, 'x'.repeat(500))));
  });

  it('concurrent writers (bursts across ticks, while rotating): every event exactly once, whole, in order', async () => {
    const path = join(dir, 'audit.jsonl');
    const sink = createFileAuditSink({ path, maxBytes: 4096, keep: 1000, onWarning: () => {} });
    const n = 2000;
    // Ten producers, each writing its share from its own timers and microtasks.
    await Promise.all(
      Array.from({ length: 10 }, (_, p) =>
        (async () => {
          for (let k = 0; k < n / 10; k++) {
            sink.write(event(k * 10 + p, `p${p}`));
            if (k % 7 === 0) await new Promise((r) => setTimeout(r, 0));
            else await Promise.resolve();
          }
        })(),
      ),
    );
    await sink.close();
    const files = readdirSync(dir)
      .map((name) => ({ name, n: name === 'audit.jsonl' ? 0 : Number(name.split('.').pop()) }))
      .sort((a, b) => b.n - a.n);
    expect(files.length).toBeGreaterThan(10);
    const lines: string[] = [];
    for (const { name } of files) {
      const text = read(join(dir, name));
      expect(text.endsWith('\n')).toBe(true);
      expect(Buffer.byteLength(text)).toBeLessThanOrEqual(4096);
      lines.push(...text.split('\n').filter(Boolean));
    }
    const jtis = lines.map((l) => (JSON.parse(l) as AuditEvent).jti);
    expect(new Set(jtis).size).toBe(n);
    expect(jtis).toHaveLength(n);
    // Each producer's events appear in the order it wrote them.
    for (let p = 0; p < 10; p++) {
      const mine = jtis.filter((j) => Number(j!.slice(4)) % 10 === p).map((j) => Number(j!.slice(4)));
      expect(mine).toEqual([...mine].sort((a, b) => a - b));
    }
    expect(sink.stats()).toEqual({ written: n, dropped: 0, buffered: 0 });
  });

  it('continues an existing file, first ending a line a crash cut short', async () => {
    const path = join(dir, 'audit.jsonl');
    writeFileSync(path, `${lineOf(event(0))}{"type":"token.iss`);
    const sink = createFileAuditSink({ path, onWarning: () => {} });
    sink.write(event(1));
    await sink.close();
    const lines = read(path).split('\n');
    expect(lines[0]).toBe(JSON.stringify(event(0)));
    expect(lines[1]).toBe('{"type":"token.iss');
    expect(lines[2]).toBe(JSON.stringify(event(1)));
  });

  it('a write that fails drops and counts its events with a warning, never throws; writes after close are counted', async () => {
    const warnings: string[] = [];
    // A directory where the file should be: open fails.
    const sink = createFileAuditSink({ path: dir, onWarning: (m) => warnings.push(m) });
    expect(() => sink.write(event(0))).not.toThrow();
    await sink.flush();
    expect(sink.stats()).toEqual({ written: 0, dropped: 1, buffered: 0 });
    expect(warnings[0]).toMatch(/could not be written .*1 event\(s\) dropped/);
    await sink.close();
    sink.write(event(1));
    expect(sink.stats().dropped).toBe(2);
  });

  it('bounds what waits for the disk: beyond maxBuffered events are dropped and counted, one warning', async () => {
    const path = join(dir, 'audit.jsonl');
    const warnings: string[] = [];
    const sink = createFileAuditSink({ path, maxBuffered: 3, onWarning: (m) => warnings.push(m) });
    // All in one tick, before the disk took any: three wait, the rest overflow.
    for (let i = 0; i < 10; i++) sink.write(event(i));
    await sink.close();
    expect(sink.stats()).toEqual({ written: 3, dropped: 7, buffered: 0 });
    expect(jtisOf(path)).toEqual(['jti-0', 'jti-1', 'jti-2']);
    expect(warnings).toHaveLength(1);
  });

  it('validates its options at creation', () => {
    expect(() => createFileAuditSink({ path: '' })).toThrow('options.path must be a file path');
    expect(() => createFileAuditSink({ path: 'x', maxBytes: 0 })).toThrow('options.maxBytes must be a positive integer');
    expect(() => createFileAuditSink({ path: 'x', keep: 1.5 })).toThrow('options.keep must be a positive integer');
    expect(() => createFileAuditSink({ path: 'x', fsync: 'sometimes' as never })).toThrow('options.fsync must be one of always, rotate, never');
  });
});
