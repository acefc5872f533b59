/**
 * chromium.ts — a headless Chromium for the browser tests, driven by playwright-core: the
 * binary found on PATH (where Debian's `chromium` package puts it), launched with
 * flags that keep it off the network (every non-loopback request goes to a dead proxy, every
 * name fails to resolve, no background services), and a guard that records any request that is
 * not to the one server a test allows. Tests skip, naming the reason, where there is no Chromium.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/** The Chromium executable on PATH, or null. */
export function chromiumPath(): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const p = path.join(dir, name);
      try {
        fs.accessSync(p, fs.constants.X_OK);
        return p;
      } catch {
        /* not here */
      }
    }
  }
  return null;
}

/** Why the browser tests cannot run here, or null when they can. */
export function noChromiumReason(): string | null {
  return chromiumPath() === null ? 'no chromium on PATH (Debian: apt-get install chromium; .ci/run installs it)' : null;
}

export const OFFLINE_ARGS = [
  '--no-sandbox',
  // loopback bypasses the proxy; anything else meets a port nobody listens on
  '--proxy-server=http://127.0.0.1:9',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-domain-reliability',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--no-first-run',
  '--no-pings',
  '--metrics-recording-only',
  '--disable-features=Translate,OptimizationHints,MediaRouter,DialMediaRouteProvider,AutofillServerCommunication',
];

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: chromiumPath()!, args: OFFLINE_ARGS, headless: true });
}

/**
 * A page whose every request (HTTP and websocket) must go to `origin` (http://127.0.0.1:PORT);
 * others are aborted and listed in `foreign`, as are the page's script errors in `errors`.
 */
export async function guardedPage(
  browser: Browser,
  origin: string,
): Promise<{ context: BrowserContext; page: Page; foreign: string[]; errors: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 1000 } });
  const foreign: string[] = [];
  const errors: string[] = [];
  const wsOrigin = origin.replace(/^http/, 'ws');
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(`${origin}/`) || url.startsWith('data:')) return route.continue();
    foreign.push(url);
    return route.abort();
  });
  const page = await context.newPage();
  page.on('websocket', (ws) => {
    if (!ws.url().startsWith(`${wsOrigin}/`)) foreign.push(ws.url());
  });
  page.on('pageerror', (e) => errors.push(e.message));
  return { context, page, foreign, errors };
}

/** The folder screenshots go to: it is kept after the tests, for a person to look at. */
export function screenshotDir(): string {
  const d = process.env.GRADSYNC_TEST_OUTPUT ?? path.join(os.tmpdir(), 'gradsync-test-output');
  fs.mkdirSync(d, { recursive: true });
  return d;
}
