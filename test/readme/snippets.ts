import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/** One ```ts block of a README. */
export interface Snippet {
  /** README path relative to the repository root, e.g. `packages/agent/README.md`. */
  file: string;
  /** 1-based line of the opening fence; the first code line is `fenceLine + 1`. */
  fenceLine: number;
  /** The code between the fences. */
  code: string;
  /** Names from the `<!-- snippet-preamble: a b -->` comment right above the fence (see preambles.ts). */
  preamble: string[];
}

const PREAMBLE = /^<!--\s*snippet-preamble:\s*([\w\s-]*?)\s*-->$/;

/** README.md, packages/*\/README.md and examples/*\/README.md of the repository at `root`. */
export function findReadmes(root: string): string[] {
  const files = [join(root, 'README.md')];
  for (const dir of ['packages', 'examples']) {
    for (const name of readdirSync(join(root, dir)).sort()) {
      const readme = join(root, dir, name, 'README.md');
      if (existsSync(readme)) files.push(readme);
    }
  }
  return files;
}

/**
 * Every ```ts (or ```typescript) block of a markdown text. A block may name declared stand-ins it
 * relies on (`app`, `req`, ...) in an HTML comment on the nearest non-blank line above its fence:
 * `<!-- snippet-preamble: app req -->`.
 */
export function extractSnippets(file: string, text: string): Snippet[] {
  const lines = text.split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)(`{3,}|~{3,})\s*(\S*)/.exec(lines[i]!);
    if (!open) continue;
    const fence = open[2]!;
    const lang = open[3]!.toLowerCase();
    let end = i + 1;
    while (end < lines.length && !lines[end]!.trimStart().startsWith(fence)) end++;
    if (lang === 'ts' || lang === 'typescript') {
      let above = i - 1;
      while (above >= 0 && lines[above]!.trim() === '') above--;
      const m = above >= 0 ? PREAMBLE.exec(lines[above]!.trim()) : null;
      out.push({
        file,
        fenceLine: i + 1,
        code: lines.slice(i + 1, end).join('\n'),
        preamble: m ? m[1]!.split(/\s+/).filter(Boolean) : [],
      });
    }
    i = end;
  }
  return out;
}

/** Every ts snippet of every README under `root`. */
export function readmeSnippets(root: string): Snippet[] {
  return findReadmes(root).flatMap((path) => extractSnippets(relative(root, path), readFileSync(path, 'utf8')));
}
