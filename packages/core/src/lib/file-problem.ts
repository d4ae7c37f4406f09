/**
 * Why a file could not be read or written, in words for a command-line message: a missing file (or,
 * for a write, its missing folder), a directory, no permission; else the system's message.
 */
export function fileProblem(error: unknown, mode: 'read' | 'write'): string {
  switch ((error as { code?: unknown } | null)?.code) {
    case 'ENOENT':
      return mode === 'read' ? 'no such file' : 'its folder does not exist';
    case 'EISDIR':
      return 'it is a directory';
    case 'EACCES':
      return 'permission denied';
    default:
      return (error as Error).message;
  }
}
