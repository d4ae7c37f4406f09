import { run } from '../src/run.js';

/** Run `aauth ARGS...` in-process with an empty stdin: its exit code and what it wrote to stdout and stderr. */
export async function aauth(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await run(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t), readStdin: async () => '' });
  return { code, out, err };
}
