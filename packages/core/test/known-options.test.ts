import { describe, expect, it } from 'vitest';
import { parseArgs } from 'node:util';
import { argumentErrorText, assertKnownOptions, nearestName, optionNames } from '../src/lib/known-options.js';

describe('nearestName: the known name a misspelt one was meant as', () => {
  const known = ['scope', 'level', 'requiredComponents', 'deferred', 'authServer', 'maxSkew', 'maxEntries', 'maxInflight', 'signingAlgorithm'];
  it.each([
    ['scopes', 'scope'],
    ['authserver', 'authServer'],
    ['AUTHSERVER', 'authServer'],
    ['levle', 'level'],
    ['requiredcomponent', 'requiredComponents'],
    ['maxEntry', 'maxEntries'],
    ['maxskew', 'maxSkew'],
    ['signingAlg', 'signingAlgorithm'],
  ])('%s -> %s', (given, meant) => {
    expect(nearestName(given, known)).toBe(meant);
  });

  it('nothing when no name is near (short names allow one edit, longer two)', () => {
    expect(nearestName('colour', known)).toBeUndefined();
    expect(nearestName('lv', known)).toBeUndefined();
    expect(nearestName('xcope', ['scope'])).toBe('scope');
    expect(nearestName('xxope', ['scope'])).toBe('scope');
    expect(nearestName('xxxpe', ['scope'])).toBeUndefined();
    expect(nearestName('abc', ['abd'])).toBe('abd');
    expect(nearestName('abc', ['xyc'])).toBeUndefined();
  });

  it('a short beginning is no match', () => {
    expect(nearestName('sig', known)).toBeUndefined();
  });

  it('the nearest of several', () => {
    expect(nearestName('maxInflights', ['maxInflight', 'maxInflightPerHost'])).toBe('maxInflight');
  });
});

describe('assertKnownOptions', () => {
  const known = optionNames<{ alpha?: number; beta?: string }>({ alpha: true, beta: true });
  it('passes known names, and an empty object', () => {
    expect(() => assertKnownOptions({ alpha: 1, beta: 'x' }, known, 'options', 'thing')).not.toThrow();
    expect(() => assertKnownOptions({}, known, 'options', 'thing')).not.toThrow();
  });
  it('names the first unknown one, with the nearest, a hint, or the list', () => {
    expect(() => assertKnownOptions({ alpah: 1 }, known, 'options', 'thing')).toThrow(new TypeError('options.alpah is not an option of thing (did you mean alpha?)'));
    expect(() => assertKnownOptions({ gamma: 1 }, known, 'options.sub')).toThrow(new TypeError('options.sub.gamma is not an option (its options: alpha, beta)'));
    expect(() => assertKnownOptions({ gamma: 1 }, known, 'options', 'thing', { gamma: 'it goes elsewhere' })).toThrow(new TypeError('options.gamma is not an option of thing: it goes elsewhere'));
  });
  it('a hostile name is shown escaped and cut', () => {
    const name = `x\n${'y'.repeat(200)}`;
    const error = (() => {
      try {
        assertKnownOptions({ [name]: 1 }, known, 'options');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(/^options\.x\\ny{61} is not an option/);
    expect(error?.message).not.toContain('\n');
  });
});

describe('argumentErrorText: one line for a command-line error of node\'s parseArgs', () => {
  const options = { realm: { type: 'string' }, 'key-file': { type: 'string' }, port: { type: 'string' }, json: { type: 'boolean' } } as const;
  const textOf = (args: string[], allowPositionals = false): string => {
    try {
      parseArgs({ args, options, strict: true, allowPositionals });
    } catch (error) {
      return argumentErrorText(error, Object.keys(options));
    }
    throw new Error('parsed');
  };
  it.each([
    [['--relam', 'x'], 'unknown option --relam (did you mean --realm?)'],
    [['--keyfile=k'], 'unknown option --keyfile (did you mean --key-file?)'],
    [['--bogus'], 'unknown option --bogus'],
    // Two edits from a short flag with another first letter is no suggestion (--isuer is not --user).
    [['--xort', '1'], 'unknown option --xort'],
    [['-z'], "unknown option -z"],
    [['--port'], "Option '--port <value>' argument missing"],
    [['--json=yes'], "Option '--json' does not take an argument"],
    [['stray'], 'unexpected argument "stray": this command takes options only'],
  ])('%j -> %s', (args, text) => {
    expect(textOf(args)).toBe(text);
  });
  it('keeps the first line of anything else', () => {
    expect(argumentErrorText(new Error('first\nsecond'), [])).toBe('first');
    expect(argumentErrorText(undefined, [])).toBe('undefined');
  });
});
