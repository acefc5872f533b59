import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '../../..');
const SCRIPT = path.join(ROOT, 'dist/test/fixtures/logs/run-tail.js');
const FIXTURE = path.join(ROOT, 'test/fixtures/logs/run-v1.ndjson');

const hasTmux = (): boolean => spawnSync('tmux', ['-V'], { encoding: 'utf8' }).status === 0;

describe('cli/tail in a real terminal (tmux)', function () {
  // a private tmux server (its own socket), so nobody else's sessions are touched
  const socket = `gradsync-test-${process.pid}`;
  const tmux = (...args: string[]): string => {
    const r = spawnSync('tmux', ['-L', socket, '-f', '/dev/null', '-u', ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tmux ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const screen = (): string => tmux('capture-pane', '-p', '-t', 'gs');
  /** Polls the screen until `test` holds (the test's timeout bounds the wait; no timing is asserted). */
  const waitFor = async (test: (s: string) => boolean): Promise<string> => {
    for (;;) {
      const s = screen();
      if (test(s)) return s;
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  let dir = '';

  afterEach(() => {
    spawnSync('tmux', ['-L', socket, 'kill-server']);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('shows the layer table and the diagnosis, redraws in place as records arrive, and exits 0 on Ctrl-C', async function () {
    if (!hasTmux()) {
      // needs tmux (Debian: apt-get install -y tmux)
      this.test!.title += ' [skipped: tmux is not installed]';
      this.skip();
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-tty-'));
    const log = path.join(dir, 'log.ndjson');
    const lines = fs.readFileSync(FIXTURE, 'utf8').split('\n').filter(Boolean);
    const firstStep21 = lines.findIndex((l) => l.includes('"step":21,'));
    fs.writeFileSync(log, lines.slice(0, firstStep21).join('\n') + '\n');

    const cmd = `node ${JSON.stringify(SCRIPT)} ${JSON.stringify(log)}; echo "EXIT=$?"; sleep 60`;
    tmux('new-session', '-d', '-s', 'gs', '-x', '110', '-y', '40', cmd);

    let s = await waitFor((t) => /^diagnosis/m.test(t) && /step 20\b/.test(t));
    assert.match(s.split('\n')[0]!, /^gradsync tail {2}step 20 \(epoch 0\)/);
    assert.match(s, /^layer +act +\|dJdW\| +\|dJdWb\| +upd\/W +saturated +dead/m);
    assert.match(s, /^0 +tanh +\S+ [▁▂▃▄▅▆▇█]+/m);
    assert.match(s, /^1 +relu /m);
    assert.match(s, /^2 +softmax /m);
    assert.match(s, /^diagnosis {2}ok$/m);

    fs.appendFileSync(log, lines.slice(firstStep21).join('\n') + '\n');
    s = await waitFor((t) => /step 40\b/.test(t));
    // redrawn in place: the header is still the first line and appears once
    assert.match(s.split('\n')[0]!, /^gradsync tail {2}step 40 \(epoch 1\) {2}\[run ended\]/);
    assert.equal(s.match(/gradsync tail/g)!.length, 1);
    assert.match(s, /^eval +loss/m);

    tmux('send-keys', '-t', 'gs', 'C-c');
    s = await waitFor((t) => /EXIT=\d+/.test(t));
    assert.match(s, /EXIT=0/);
  });
});
