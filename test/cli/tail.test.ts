/* eslint-disable no-control-regex -- these tests look for ANSI escapes on purpose */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main';
import { tailCommand } from '../../src/cli/tail';
import { startLiveServer, type LiveServer } from '../../src/observe/live-server';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/logs');
const V1 = path.join(FIXTURES, 'run-v1.ndjson');

/** A stdout/stderr stand-in that keeps what is written and wakes waiters on each write. */
class Capture extends Writable {
  text = '';
  isTTY?: boolean;
  columns?: number;
  private waiters: { test: (t: string) => boolean; resolve: () => void }[] = [];
  constructor(tty = false) {
    super();
    if (tty) {
      this.isTTY = true;
      this.columns = 100;
    }
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString('utf8');
    this.waiters = this.waiters.filter((w) => {
      if (w.test(this.text)) {
        w.resolve();
        return false;
      }
      return true;
    });
    cb();
  }
  /** Resolves once the text satisfies `test` (the test's own timeout bounds the wait). */
  until(test: (t: string) => boolean): Promise<void> {
    if (test(this.text)) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }
  get lines(): string[] {
    return this.text.split('\n').filter((l) => l.length > 0);
  }
}

function io(tty = false): { stdout: Capture; stderr: Capture } {
  return { stdout: new Capture(tty), stderr: new Capture() };
}

const fixtureLines = (): string[] => fs.readFileSync(V1, 'utf8').split('\n').filter(Boolean);

describe('cli/tail', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-cli-tail-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  describe('a file', () => {
    it('--once prints the summary of the file as plain lines and exits 0', async () => {
      const o = io();
      assert.equal(await tailCommand(V1, { once: true }, o), 0);
      const lines = o.stdout.lines;
      assert.ok(!o.stdout.text.includes('\x1b'), 'no escapes on a non-terminal');
      assert.match(lines[0]!, /^gradsync tail {2}step 40 \(epoch 1\) {2}\[run ended\]/);
      const head = lines.findIndex((l) => /^layer +act +\|dJdW\|/.test(l));
      assert.ok(head > 0);
      assert.deepEqual(
        lines.slice(head + 1, head + 4).map((l) => l.split(/\s+/).slice(0, 2).join(' ')),
        ['0 tanh', '1 relu', '2 softmax'],
      );
      assert.ok(lines.includes('diagnosis  ok'));
      assert.equal(o.stderr.text, '');
    });

    it('--json passes every record through, one JSON object per line, and drops other lines', async () => {
      const file = path.join(dir, 'log.ndjson');
      const src = fixtureLines();
      fs.writeFileSync(file, ['pino started', ...src, '{"level":30,"msg":"not ours"}'].join('\n') + '\n');
      const o = io();
      assert.equal(await tailCommand(file, { once: true, json: true }, o), 0);
      const out = o.stdout.lines.map((l) => JSON.parse(l) as { msg: string; step?: number });
      assert.equal(out.length, src.length);
      assert.deepEqual(
        out,
        src.map((l) => JSON.parse(l)),
      );
      assert.equal(out.filter((r) => r.msg === 'step').length, 40);
      assert.match(o.stderr.text, /skipped 2 line\(s\) that are not gradsync records/);
    });

    it('--once on a terminal prints the screen once, with colour and no cursor moves', async () => {
      const o = io(true);
      const noColor = process.env.NO_COLOR;
      delete process.env.NO_COLOR;
      try {
        assert.equal(await tailCommand(V1, { once: true }, o), 0);
      } finally {
        if (noColor !== undefined) process.env.NO_COLOR = noColor;
      }
      assert.doesNotMatch(o.stdout.text, /\x1b\[H|\x1b\[2J/);
      assert.match(o.stdout.text, /diagnosis {2}\x1b\[1;32mok\x1b\[0m/);
      for (const l of o.stdout.text.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) assert.ok([...l].length <= 100, l);
    });

    it('--once on a missing file exits 1 naming it', async () => {
      const o = io();
      assert.equal(await tailCommand(path.join(dir, 'nope.ndjson'), { once: true }, o), 1);
      assert.match(o.stderr.text, /nope\.ndjson: no such file/);
    });

    it('a run folder means its log: --once reads RUN_DIR/log.ndjson, following reads it without an EISDIR error (issue 24)', async () => {
      const src = fixtureLines();
      fs.writeFileSync(path.join(dir, 'log.ndjson'), src.join('\n') + '\n');
      const once = io();
      assert.equal(await tailCommand(dir, { once: true, json: true }, once), 0);
      assert.equal(once.stdout.lines.length, src.length);
      assert.equal(once.stderr.text, '');
      const o = io();
      const ac = new AbortController();
      const done = tailCommand(dir, {}, { ...o, signal: ac.signal });
      await o.stdout.until((t) => t.includes('step 40 '));
      ac.abort();
      assert.equal(await done, 0);
      assert.doesNotMatch(o.stderr.text, /EISDIR/);
      assert.equal(o.stdout.lines.filter((l) => l.startsWith('step ')).length, 40);
    });

    it('--once on a run folder without a log exits 1 naming RUN_DIR/log.ndjson', async () => {
      const o = io();
      assert.equal(await tailCommand(dir, { once: true }, o), 1);
      assert.ok(o.stderr.text.includes(`${path.join(dir, 'log.ndjson')}: no such file`), o.stderr.text);
    });

    it('exits 2 for a bad --window', async () => {
      const o = io();
      assert.equal(await tailCommand(V1, { once: true, window: 0 }, o), 2);
      assert.match(o.stderr.text, /--window must be an integer/);
    });

    it('follows a file that does not exist yet, one plain line per step, and stops on the signal', async () => {
      const file = path.join(dir, 'later.ndjson');
      const o = io();
      const ac = new AbortController();
      const done = tailCommand(file, {}, { ...o, signal: ac.signal });
      await o.stderr.until((t) => t.includes('waiting for'));
      const src = fixtureLines();
      fs.writeFileSync(file, src.slice(0, 5).join('\n') + '\n');
      await o.stdout.until((t) => t.includes('step 4 '));
      fs.appendFileSync(file, src.slice(5, 12).join('\n') + '\n');
      await o.stdout.until((t) => t.includes('step 11 '));
      ac.abort();
      assert.equal(await done, 0);
      const steps = o.stdout.lines.filter((l) => l.startsWith('step '));
      assert.deepEqual(
        steps.map((l) => Number(l.split(' ')[1])),
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
      );
      assert.match(steps[0]!, /^step 1 epoch 0 loss \S+ \|g\| \S+ [\d,]+ ex\/s \[ok\]$/);
      assert.ok(o.stdout.lines.includes('diagnosis at step 1: ok'));
      assert.ok(o.stdout.lines.some((l) => l.startsWith('start run ')));
    });

    it('follows on a terminal by redrawing the screen in place', async () => {
      const file = path.join(dir, 'log.ndjson');
      fs.writeFileSync(file, fixtureLines().join('\n') + '\n');
      const o = io(true);
      const ac = new AbortController();
      const done = tailCommand(file, {}, { ...o, signal: ac.signal });
      await o.stdout.until((t) => t.includes('diagnosis'));
      ac.abort();
      assert.equal(await done, 0);
      assert.ok(o.stdout.text.startsWith('\x1b[2J\x1b[H'));
      assert.match(o.stdout.text, /\x1b\[K\n/);
      assert.match(o.stdout.text, /^2 +softmax/m);
    });
  });

  describe('a live coordinator', () => {
    let server: LiveServer | null = null;
    afterEach(async () => {
      await server?.close();
      server = null;
    });

    it('--once prints the summary of the snapshot and exits', async () => {
      server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 100 });
      for (const l of fixtureLines()) server.publish(JSON.parse(l) as object);
      const o = io();
      assert.equal(await tailCommand(`ws://127.0.0.1:${server.port}`, { once: true }, o), 0);
      assert.match(o.stdout.lines[0]!, /^gradsync tail {2}step 40/);
      assert.ok(o.stdout.lines.includes('diagnosis  ok'));
    });

    it('--once --json passes the snapshot through', async () => {
      server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 10, token: 'tok-abc' });
      const src = fixtureLines();
      for (const l of src) server.publish(JSON.parse(l) as object);
      const o = io();
      assert.equal(await tailCommand(`ws://127.0.0.1:${server.port}`, { once: true, json: true, token: 'tok-abc' }, o), 0);
      // the run's start record heads the snapshot, then the last 10 others
      const start = src.filter((l) => l.includes('"msg":"start"'));
      const rest = src.filter((l) => !l.includes('"msg":"start"'));
      assert.equal(start.length, 1);
      assert.deepEqual(
        o.stdout.lines.map((l) => JSON.parse(l)),
        [...start, ...rest.slice(-10)].map((l) => JSON.parse(l)),
      );
    });

    it('follows the stream until the coordinator closes it', async () => {
      server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 1 });
      const src = fixtureLines().filter((l) => l.includes('"msg":"step"'));
      server.publish(JSON.parse(src[0]!) as object); // the snapshot: seeing it means subscribed
      const o = io();
      const done = tailCommand(`ws://127.0.0.1:${server.port}`, {}, o);
      await o.stdout.until((t) => t.includes('step 1 '));
      for (const l of src.slice(1, 3)) server.publish(JSON.parse(l) as object);
      await o.stdout.until((t) => t.includes('step 3 '));
      await server.close();
      assert.equal(await done, 0);
      assert.deepEqual(
        o.stdout.lines.filter((l) => l.startsWith('step ')).map((l) => l.split(' ')[1]),
        ['1', '2', '3'],
      );
      assert.match(o.stderr.text, /the live stream ended \(gradsync run ended\)/);
    });

    it('exits 1 with the reason when the token is wrong', async () => {
      server = await startLiveServer({ host: '127.0.0.1', port: 0, token: 'tok-RIGHT-1' });
      const o = io();
      assert.equal(await tailCommand(`ws://127.0.0.1:${server.port}`, { once: true, token: 'tok-WRONG-2' }, o), 1);
      assert.match(o.stderr.text, /refused the subscription \(401\)/);
      assert.doesNotMatch(o.stderr.text, /tok-RIGHT-1|tok-WRONG-2/);
    });

    it("gradsync tail --token-file reads the token from the file's first line, as train and worker do", async () => {
      server = await startLiveServer({ host: '127.0.0.1', port: 0, history: 10, token: 'tok-first-line' });
      for (const l of fixtureLines()) server.publish(JSON.parse(l) as object);
      const tokenFile = path.join(dir, 'token');
      fs.writeFileSync(tokenFile, 'tok-first-line\n# written by the coordinator\n');
      const o = io();
      const code = await main(['node', 'gradsync', 'tail', `ws://127.0.0.1:${server.port}`, '--once', '--token-file', tokenFile], {
        ...o,
        stdin: process.stdin,
      });
      assert.equal(code, 0, o.stderr.text);
      assert.match(o.stdout.lines[0]!, /^gradsync tail {2}step 40/);
    });

    it('gradsync tail --token-file on a missing file exits 2 naming the flag and the file', async () => {
      const o = io();
      const missing = path.join(dir, 'no-token');
      assert.equal(
        await main(['node', 'gradsync', 'tail', 'ws://127.0.0.1:1', '--once', '--token-file', missing], { ...o, stdin: process.stdin }),
        2,
      );
      assert.equal(o.stderr.text, `gradsync: error GS_ERR_USAGE: --token-file ${missing}: ENOENT\n`);
    });

    it('gradsync tail --ca on a missing file exits 2 naming the flag and the file', async () => {
      const o = io();
      const missing = path.join(dir, 'no-cert.pem');
      assert.equal(
        await main(['node', 'gradsync', 'tail', 'wss://127.0.0.1:1', '--once', '--ca', missing], { ...o, stdin: process.stdin }),
        2,
      );
      assert.equal(o.stderr.text, `gradsync: error GS_ERR_USAGE: --ca ${missing}: ENOENT\n`);
    });

    it('notes that ws:// off loopback is unencrypted: the records travel in clear, the token does not', async () => {
      const o = io();
      // 192.0.2.0/24 is TEST-NET-1: nothing answers; the note comes before the attempt
      await tailCommand('ws://192.0.2.1:9', { once: true }, { ...o, signal: AbortSignal.abort() });
      assert.match(o.stderr.text, /ws:\/\/ is unencrypted \(the token does not travel, but the records do\); prefer wss:\/\//);
    });

    it('exits 2 for a URL that is not ws:// or wss://', async () => {
      const o = io();
      assert.equal(await tailCommand('wss://user:pw@127.0.0.1:1', { once: true }, o), 2);
      assert.match(o.stderr.text, /not in the URL/);
    });
  });
});
