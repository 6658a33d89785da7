// The one way browser tests find and start Chromium (driven by playwright-core, which downloads no
// browser): $METAQUANT_CHROMIUM if set (`none` hides every browser, to check the skip), else a
// chromium/chrome on PATH (Debian's `chromium`), else the one in Playwright's own browser cache.
// Where none exists, `browserSkip` is the one-line reason each browser test skips with.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser, type LaunchOptions } from 'playwright-core';

const HOW_TO_INSTALL =
  'install one with `apt-get install chromium` or `npx playwright-core install chromium`, or set METAQUANT_CHROMIUM=/path/to/chrome';
const ON_PATH = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

const executable = (file: string): boolean => {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

/** Playwright's expected path for its own Chromium (whether installed or not), if it has one here. */
function playwrightCache(): string | undefined {
  try {
    return chromium.executablePath();
  } catch {
    return undefined;
  }
}

export type ChromiumSearch = { path: string } | { missing: string };

export function findChromium(env: NodeJS.ProcessEnv = process.env): ChromiumSearch {
  const override = env.METAQUANT_CHROMIUM;
  if (override !== undefined && override !== '') {
    if (override === 'none') return { missing: `no Chromium (METAQUANT_CHROMIUM=none); ${HOW_TO_INSTALL}` };
    return executable(override) ? { path: override } : { missing: `METAQUANT_CHROMIUM=${override} is not an executable; ${HOW_TO_INSTALL}` };
  }
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of ON_PATH) {
    for (const dir of dirs) if (executable(join(dir, name))) return { path: join(dir, name) };
  }
  const cached = playwrightCache();
  if (cached && executable(cached)) return { path: cached };
  return { missing: `no Chromium found (${ON_PATH.join(', ')} on PATH, or Playwright's cache${cached ? ` at ${cached}` : ''}); ${HOW_TO_INSTALL}` };
}

const found = findChromium();

/** The skip option of a browser test: false where Chromium was found, else the one-line reason. */
export const browserSkip: string | false = 'missing' in found ? found.missing : false;

/** Headless Chromium, offline-minded; only call where `browserSkip` is false. */
export function launchChromium(options: LaunchOptions = {}): Promise<Browser> {
  if ('missing' in found) throw new Error(found.missing);
  return chromium.launch({ executablePath: found.path, args: ARGS, ...options });
}
