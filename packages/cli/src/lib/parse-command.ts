import { parseArgs, type ParseArgsConfig } from 'node:util';
import { argumentErrorText, repeatedOptionText } from '@aauth-kit/core/internal';
import { ArgumentError, type Io } from './usage-error.js';

const HELP = { help: { type: 'boolean', short: 'h' } } as const;

type Options = NonNullable<ParseArgsConfig['options']>;

type CommandConfig<O extends Options> = { args: string[]; options: O & typeof HELP; strict: true; allowPositionals: true; tokens: true };

/**
 * Parse a command's arguments strictly (an unknown option is a usage error), positionals allowed,
 * with `--help` / `-h` added: prints `help` and returns undefined when it was given. A bad argument
 * throws an {@link ArgumentError}.
 */
export function parseCommand<const O extends Options>(
  args: string[],
  options: O,
  help: string,
  io: Io,
): ReturnType<typeof parseArgs<CommandConfig<O>>> | undefined {
  let parsed: ReturnType<typeof parseArgs<CommandConfig<O>>>;
  try {
    parsed = parseArgs<CommandConfig<O>>({ args, options: { ...options, ...HELP }, strict: true, allowPositionals: true, tokens: true });
  } catch (error) {
    // node's text ("Unknown option '--x'. To specify a positional argument ...") made one line with the nearest option.
    throw new ArgumentError(argumentErrorText(error, Object.keys(options)));
  }
  // node keeps the last of a repeated single-valued option silently: refused instead.
  const repeated = repeatedOptionText(parsed.tokens, options);
  if (repeated !== undefined) throw new ArgumentError(repeated);
  if ((parsed.values as { help?: boolean }).help) {
    io.stdout(`${help}\n`);
    return undefined;
  }
  return parsed;
}
