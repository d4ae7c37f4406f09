import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import { fileProblem } from '@aauth-kit/core/internal';
import { UsageError } from './usage-error.js';

/** The most a key file or a token file may hold (a private JWK or PEM is a few hundred bytes, a token at most 16 KiB). */
export const MAX_KEY_FILE_BYTES = 64 * 1024;

/** What a file that is not a regular one is, for a message. */
function kindOf(stat: ReturnType<typeof fstatSync>): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO (named pipe)';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Open `path` for `flag` without blocking (a FIFO would wait for a writer forever) and check that
 * it is a regular file of at most `max` bytes (/dev/zero never ends): the open descriptor, to be
 * closed by the caller. Anything else is a usage error naming the flag.
 */
export function openLocalFile(flag: string, path: string, max: number, shown = `${flag} ${path}`): number {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw new UsageError(`${shown}: cannot read it (${fileProblem(error, 'read')})`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UsageError(`${shown}: it is ${kindOf(stat)}; give a regular file`);
    if (stat.size > max) throw new UsageError(`${shown}: it is ${stat.size} bytes, more than the ${max} bytes it may be`);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The bytes of regular file `path` for `flag`, at most `max` of them (see {@link openLocalFile}). */
export function readLocalFile(flag: string, path: string, max: number, shown = `${flag} ${path}`): Buffer {
  const fd = openLocalFile(flag, path, max, shown);
  try {
    const buffer = Buffer.alloc(fstatSync(fd).size);
    let read = 0;
    while (read < buffer.length) {
      const n = readSync(fd, buffer, read, buffer.length - read, read);
      if (n === 0) break;
      read += n;
    }
    return buffer.subarray(0, read);
  } finally {
    closeSync(fd);
  }
}

/**
 * For a file another function reads (with its own messages for a missing one): when `path` exists,
 * it must be a regular file of at most `max` bytes. stat, not open: a FIFO is not waited on.
 */
export function checkLocalFile(flag: string, path: string, max: number): void {
  let stat: ReturnType<typeof statSync>;
  try {
    stat = statSync(path);
  } catch {
    return;
  }
  if (!stat.isFile()) throw new UsageError(`${flag} ${path}: it is ${kindOf(stat)}; give a regular file`);
  if (stat.size > max) throw new UsageError(`${flag} ${path}: it is ${stat.size} bytes, more than the ${max} bytes it may be`);
}
