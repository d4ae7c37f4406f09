import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

/** Headless flags for a container without a display, GPU or sandbox support. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** The Chromium the consent-page tests drive: `$CHROMIUM_PATH`, else Debian's `/usr/bin/chromium`. */
export function chromiumPath(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.CHROMIUM_PATH;
  return configured !== undefined && configured !== '' ? configured : '/usr/bin/chromium';
}

const HOW_TO_INSTALL =
  'Install it with `sudo apt-get install chromium` (Debian; .ci/run does this), ' +
  'or set CHROMIUM_PATH to a Chromium or Google Chrome binary.';

/** Launch headless Chromium at `path`; when it is missing or does not start, the error says how to install it. */
export async function launchChromium(path: string = chromiumPath()): Promise<Browser> {
  if (!existsSync(path)) {
    throw new Error(`The consent-page tests need Chromium, and there is none at ${path}. ${HOW_TO_INSTALL}`);
  }
  try {
    return await chromium.launch({ executablePath: path, args: CHROMIUM_ARGS });
  } catch (error) {
    const first = String((error as Error).message).split('\n')[0];
    throw new Error(`Chromium at ${path} did not start (${first}). ${HOW_TO_INSTALL}`, { cause: error });
  }
}
