import { describe, expect, it } from 'vitest';
import { runCli } from '../src/cli.js';
import { actAsUser } from '../src/scripted-user.js';

/**
 * `--interactive`: the consent URL is printed and the backend polls while a person decides. Before,
 * every poll (one a second) was printed as a hop of its own and the URL scrolled away; now the first
 * poll is printed and the repeats are counted in one line before the poll that ends the wait.
 */
describe('npm run demo -- --interactive', () => {
  it('prints the first consent poll and one line counting the repeats, then the poll that ends the wait', async () => {
    const out: string[] = [];
    const err: string[] = [];
    let approved: Promise<string> | undefined;
    let seen = '';
    const io = {
      out: (t: string) => void out.push(t),
      err: (t: string) => {
        err.push(t);
        const url = /open (http:\/\/\S+)/.exec(t)?.[1];
        if (url !== undefined && approved === undefined) {
          seen = url;
          // A person takes a few seconds: several polls are answered 202 meanwhile.
          approved = new Promise((resolve) => setTimeout(resolve, 3500)).then(() => actAsUser(url, { username: 'mcp-user', password: 'user123', decision: 'approve' }));
        }
      },
      env: {},
    };
    const code = await runCli(['--interactive'], io);
    expect(await approved).toMatch(/approved|you may close/i);
    expect(code, err.join('')).toBe(0);
    expect(seen).toMatch(/\/protocol\/aauth\/interact\?code=/);
    const text = out.join('');
    const polls = text.split('\n').filter((l) => /→ auth-server: GET \/realms\/aauth-test\/protocol\/aauth\/pending\//.test(l));
    // The first poll and the one answered 200: two lines however long the person took.
    expect(polls).toHaveLength(2);
    const counted = /… (\d+) more polls? of the same, answered 202 \(waiting for the user\)\n/.exec(text);
    expect(counted, text).not.toBeNull();
    expect(Number(counted![1])).toBeGreaterThanOrEqual(1);
    // In order: first poll (202), the count, the last poll, its 200 with the auth token.
    const first = text.indexOf(polls[0]!);
    const count = text.indexOf(counted![0]);
    const last = text.indexOf(polls[1]!);
    expect(first).toBeLessThan(count);
    expect(count).toBeLessThan(last);
    expect(text.slice(last).split('\n')[1]).toMatch(/^ {6}← 200\b/);
    expect(text).toContain('SUCCESS');
  }, 60_000);
});
