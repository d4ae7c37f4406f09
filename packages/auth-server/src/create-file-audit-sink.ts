import { open, rename, rm, type FileHandle } from 'node:fs/promises';
import type { AuditEvent } from './audit-event.js';
import type { AuditSink, AuditSinkStats } from './audit-sink.js';
import { auditJson } from './lib/audit.js';
import { warningHook } from './lib/warning-hook.js';

/**
 * When the file sink calls fsync: `always` after every batch it appends (a batch is what arrived
 * while the previous one was being written, so bursts share one fsync), `rotate` only before a
 * file is rotated and on flush/close, `never` leaves it to the OS.
 */
export type AuditFsyncPolicy = 'always' | 'rotate' | 'never';

/** Options of {@link createFileAuditSink}; validated when it is called. */
export interface FileAuditSinkOptions {
  /** The JSON-lines file; rotated files are `{path}.1` (newest) to `{path}.{keep}` (oldest). */
  path: string;
  /** Rotate before a line would take the file past this many bytes; default 10 MiB. A single larger line gets a file of its own. */
  maxBytes?: number | undefined;
  /** Rotated files kept; default 5. Older ones are deleted. */
  keep?: number | undefined;
  /** When to fsync; default `'always'`. */
  fsync?: AuditFsyncPolicy | undefined;
  /** Events waiting for the disk, at most; default 10000. More are dropped and counted (a warning once). */
  maxBuffered?: number | undefined;
  /** Receives warnings (write failures, drops); default `console.warn`. */
  onWarning?: ((message: string) => void) | undefined;
}

const FSYNC: readonly AuditFsyncPolicy[] = ['always', 'rotate', 'never'];

function positiveInteger(value: unknown, path: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) throw new TypeError(`${path} must be a positive integer`);
  return value;
}

/**
 * An audit sink appending one JSON line per event to a file, rotated by size. One process owns a
 * file: lines are appended by a single writer in the order `write` took them, each line whole in
 * exactly one file (a rotation happens between lines). Not for several processes sharing one path.
 */
export function createFileAuditSink(options: FileAuditSinkOptions): AuditSink {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { path } = options;
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('options.path must be a file path');
  const maxBytes = positiveInteger(options.maxBytes, 'options.maxBytes', 10 * 1024 * 1024);
  const keep = positiveInteger(options.keep, 'options.keep', 5);
  const maxBuffered = positiveInteger(options.maxBuffered, 'options.maxBuffered', 10_000);
  const fsync = options.fsync ?? 'always';
  if (!FSYNC.includes(fsync)) throw new TypeError(`options.fsync must be one of ${FSYNC.join(', ')}`);
  if (options.onWarning !== undefined && typeof options.onWarning !== 'function') throw new TypeError('options.onWarning must be a function');
  const warn = warningHook(options.onWarning, '[aauth-audit]');

  let queue: string[] = [];
  let handle: FileHandle | undefined;
  let size = 0;
  let running: Promise<void> | undefined;
  /** Lines of the batch being stored, not yet written. */
  let inFlight = 0;
  let closed = false;
  let written = 0;
  let dropped = 0;
  let warnedFull = false;

  async function openFile(): Promise<FileHandle> {
    const h = await open(path, 'a', 0o600);
    size = (await h.stat()).size;
    if (size > 0) {
      // A line cut short by a crash or a failed write ends here, so the next event starts a line of its own.
      const last = Buffer.alloc(1);
      const fd = await open(path, 'r');
      try {
        await fd.read(last, 0, 1, size - 1);
      } finally {
        await fd.close();
      }
      if (last[0] !== 0x0a) {
        await h.write('\n');
        size += 1;
      }
    }
    return h;
  }

  async function rotate(h: FileHandle): Promise<void> {
    if (fsync !== 'never') await h.sync();
    await h.close();
    handle = undefined;
    await rm(`${path}.${keep}`, { force: true });
    for (let i = keep - 1; i >= 1; i--) {
      try {
        await rename(`${path}.${i}`, `${path}.${i + 1}`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
    }
    await rename(path, `${path}.1`);
    size = 0;
  }

  /** Append `lines` in order, rotating between lines whenever the next one would pass maxBytes. */
  async function store(lines: string[]): Promise<void> {
    let i = 0;
    inFlight = lines.length;
    try {
      while (i < lines.length) {
        const h = handle ?? (handle = await openFile());
        const parts: string[] = [];
        let bytes = 0;
        while (i + parts.length < lines.length) {
          const n = Buffer.byteLength(lines[i + parts.length]!);
          if (size + bytes + n > maxBytes && size + bytes > 0) break;
          parts.push(lines[i + parts.length]!);
          bytes += n;
        }
        if (parts.length > 0) {
          const buf = Buffer.from(parts.join(''), 'utf8');
          for (let off = 0; off < buf.length; ) off += (await h.write(buf, off, buf.length - off)).bytesWritten;
          size += bytes;
          if (fsync === 'always') await h.sync();
          i += parts.length;
          written += parts.length;
          inFlight = lines.length - i;
        }
        if (i < lines.length) await rotate(h);
      }
    } catch (error) {
      const lost = lines.length - i;
      dropped += lost;
      inFlight = 0;
      warn(`the audit file ${path} could not be written (${(error as Error).message}); ${lost} event(s) dropped`);
      const h = handle;
      handle = undefined;
      await h?.close().catch(() => {});
    }
  }

  async function drain(): Promise<void> {
    // Run the body after the caller stored this promise in `running`, so the `finally` below always
    // clears a stored promise (a body that finished synchronously would leave `running` set for good).
    await Promise.resolve();
    try {
      while (queue.length > 0) {
        const batch = queue;
        queue = [];
        await store(batch);
      }
    } finally {
      // No await between the loop's last check and here: a write after it starts a new drain.
      running = undefined;
    }
  }

  const write = (event: AuditEvent): void => {
    if (closed) {
      dropped++;
      return;
    }
    if (queue.length >= maxBuffered) {
      dropped++;
      if (!warnedFull) warn(`the audit file ${path} is ${maxBuffered} events behind; events are dropped and counted`);
      warnedFull = true;
      return;
    }
    warnedFull = false;
    let line: string;
    try {
      line = `${auditJson(event)}\n`;
    } catch {
      dropped++;
      return;
    }
    queue.push(line);
    running ??= drain();
  };

  async function flush(): Promise<void> {
    while (running !== undefined) await running;
    if (fsync !== 'never' && handle !== undefined) await handle.sync().catch(() => {});
  }

  return {
    write,
    flush,
    async close() {
      closed = true;
      await flush();
      const h = handle;
      handle = undefined;
      await h?.close().catch(() => {});
    },
    stats(): AuditSinkStats {
      return { written, dropped, buffered: queue.length + inFlight };
    },
  };
}
