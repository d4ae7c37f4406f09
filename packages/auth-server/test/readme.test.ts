import { readFileSync } from 'node:fs';
import { ERRORS } from '@aauth-kit/core';
import { describe, expect, it } from 'vitest';

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const source = readFileSync(new URL('../src/create-auth-server.ts', import.meta.url), 'utf8');

function section(title: string): string {
  const start = readme.indexOf(`## ${title}`);
  expect(start, `README section ${title}`).toBeGreaterThan(-1);
  const end = readme.indexOf('\n## ', start + 3);
  return readme.slice(start, end === -1 ? undefined : end);
}

describe('README', () => {
  it('every row of the errors table is a (status, error) pair of the core error table', () => {
    // Every status the server answers is a row of the table (issue 12: no status overrides).
    const pairs = new Set(Object.values(ERRORS).map(([status, error]) => `${status} ${error}`));
    const rows = [...section('Errors').matchAll(/^\| (\d{3}) \| `([a-z_]+)` \|/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(rows.length).toBeGreaterThanOrEqual(10);
    for (const row of rows) expect(pairs, row).toContain(row);
  });

  it('the options table lists every option of AuthServerOptions', () => {
    const block = /export interface AuthServerOptions \{([\s\S]*?)\n\}/.exec(source)![1]!;
    const options = [...block.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]);
    const table = section('Options');
    expect(options.length).toBeGreaterThan(10);
    for (const option of options) expect(table, option).toContain(`| \`${option}\` |`);
  });
});
