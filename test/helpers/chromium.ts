/**
 * chromium.ts — a headless Chromium for the browser tests, driven by playwright-core: the
 * binary found on PATH (where Debian's `chromium` package puts it), launched with
 * flags that keep it off the network (every non-loopback request goes to a dead proxy, every
 * name fails to resolve, no background services), and a guard that records any request that is
 * not to the one server a test allows. Tests skip, naming the reason, where there is no Chromium.
 * For a bench, also a Chromium that only opens a URL, no DevTools client attached (openPlain).
 */
import { spawn } from 'node:child_process';
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

/**
 * A headless Chromium that opens `url` and nothing else drives, as a user's browser runs a page:
 * under playwright (DevTools' network domain on), every WebSocket frame is also reported to the
 * driver with its payload, which a bench would count as the page's time. `args` go after the
 * offline flags (a bench's diagnostic switches). close() ends Chromium and its child processes
 * (its own process group, led by `pid`) and removes its profile folder.
 */
export function openPlain(
  url: string,
  args: readonly string[] = [],
): { pid: number; exited: Promise<number | null>; close(): Promise<void> } {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-chromium-'));
  const child = spawn(chromiumPath()!, ['--headless', ...OFFLINE_ARGS, ...args, `--user-data-dir=${profile}`, url], {
    stdio: 'ignore',
    detached: true,
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return {
    pid: child.pid!,
    exited,
    async close() {
      try {
        process.kill(-child.pid!, 'SIGTERM');
      } catch {
        /* the group is gone already */
      }
      await exited;
      // its children may still be writing the profile for a moment
      fs.rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
    },
  };
}

/** The folder screenshots go to: it is kept after the tests, for a person to look at. */
export function screenshotDir(): string {
  const d = process.env.GRADSYNC_TEST_OUTPUT ?? path.join(os.tmpdir(), 'gradsync-test-output');
  fs.mkdirSync(d, { recursive: true });
  return d;
}
