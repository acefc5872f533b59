/* eslint-disable no-control-regex -- these tests look for ANSI escapes on purpose */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { renderScreen, renderPlain, stepLine, recordLine, diagnosisChange } from '../../src/observe/render';
import { Summary } from '../../src/observe/tail-summary';
import { sparkline, visibleWidth, fitWidth, wrap } from '../../src/observe/terminal-text';
import { parseRecord, readRecords, type GsRecord } from '../../src/observe/tail';
import type { StepRecord } from '../../src/observe/schema';
import { healthy, layer, stepRecord } from './records';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/logs');

async function summaryOf(file: string, window = 60): Promise<Summary> {
  const s = new Summary({ window });
  s.stats = await readRecords(path.join(FIXTURES, file), (r) => s.add(r));
  return s;
}

const asRecord = (o: object): GsRecord => {
  const p = parseRecord(JSON.stringify(o));
  assert.ok(p.ok, 'not a record');
  return p.record;
};

describe('observe/render', () => {
  describe('sparkline', () => {
    it('draws one of eight bars per value, on a log scale for norms', () => {
      assert.equal(sparkline([1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10], 'log'), '▁▂▃▄▅▆▇█');
      assert.equal(sparkline([1, 2, 3], 'linear'), '▁▅█');
    });

    it('marks non-finite values with ! and zeros on a log scale with .', () => {
      assert.equal(sparkline([1, NaN, 0, 10], 'log'), '▁!.█');
    });

    it('draws fractions on a fixed 0-1 scale', () => {
      assert.equal(sparkline([0, 0.01, 0.5, 1], 'fraction'), '.▁▅█');
    });

    it('draws a flat series as a flat line', () => {
      assert.equal(sparkline([3, 3, 3], 'log'), '▄▄▄');
      assert.equal(sparkline([], 'log'), '');
    });
  });

  describe('renderScreen', () => {
    it('shows the loss, the layer table with every layer, the executors and the diagnosis', async () => {
      const s = await summaryOf('run-v1.ndjson');
      const text = renderScreen(s, { columns: 120 }).join('\n');
      assert.match(text, /^gradsync tail {2}step 40 \(epoch 1\) {2}\[run ended\] {2}run \S+ {2}schema 1$/m);
      assert.match(text, /^loss {3}\S+ +[▁▂▃▄▅▆▇█]+/m);
      assert.match(text, /^layer +act +\|dJdW\| +\|dJdWb\| +upd\/W +saturated +dead$/m);
      for (const [l, act] of [
        [0, 'tanh'],
        [1, 'relu'],
        [2, 'softmax'],
      ] as const)
        assert.match(text, new RegExp(`^${l} +${act} +\\S+ [▁▂▃▄▅▆▇█.!]+`, 'm'));
      assert.match(text, /^executors {2}thread-1 \(thread\) 32 ex/m);
      assert.match(text, /^diagnosis {2}ok$/m);
      assert.match(text, /^model {2}64 > 16 tanh > 16 relu > 10 softmax, cross-entropy, float64$/m);
      assert.match(text, /^eval {3}loss \S+ {2}accuracy \S+%/m);
      assert.match(text, /\[run ended\]/);
      assert.match(text, /^records 45 {2}other lines 0$/m);
    });

    it('shows an early stop: the epoch, the best epoch and its held-out loss, whether its weights were restored', async () => {
      const s = await summaryOf('run-v1.ndjson');
      assert.doesNotMatch(renderScreen(s, { columns: 120 }).join('\n'), /stopped early/);
      const rec = asRecord({
        msg: 'early-stop',
        schema: 1,
        run: s.run,
        step: 40,
        epoch: 1,
        monitor: 'loss',
        best: 0.0734,
        bestEpoch: 0,
        bestStep: 20,
        bestHeldOutLoss: 0.0734,
        wait: 1,
        patience: 1,
        minDelta: 0,
        restored: true,
      });
      s.add(rec);
      assert.match(
        renderScreen(s, { columns: 120 }).join('\n'),
        /^stopped early after epoch 1: best epoch 0, held-out loss 0\.0734, its weights restored$/m,
      );
      assert.equal(recordLine({ ...rec, restored: false }), 'stopped early after epoch 1: best epoch 0, held-out loss 0.0734');
    });

    it('never writes a line wider than the terminal', async () => {
      const s = await summaryOf('run-v1.ndjson');
      for (const columns of [20, 40, 80, 132, 300]) {
        for (const line of renderScreen(s, { columns, color: true })) assert.ok(visibleWidth(line) <= columns, `${columns}: ${line}`);
      }
    });

    it('uses the width for longer sparklines on a wider terminal', async () => {
      const s = await summaryOf('run-v1.ndjson');
      const row0 = (columns: number): string => renderScreen(s, { columns }).find((l) => /^0 +tanh/.test(l))!;
      const bars = (l: string): number => [...l].filter((c) => '▁▂▃▄▅▆▇█.'.includes(c)).length;
      assert.ok(bars(row0(200)) > bars(row0(100)));
    });

    it('cuts layer rows, not the diagnosis, when the terminal is short', () => {
      const s = new Summary();
      const acts = Array.from({ length: 30 }, () => 'tanh');
      s.add(asRecord({ ...healthy(1, acts), diagnosis: { states: ['vanishing'], evidence: { vanishing: 'layer 0 is quiet' } } }));
      const lines = renderScreen(s, { columns: 100, rows: 24 });
      assert.ok(lines.length <= 23, `${lines.length} lines`);
      assert.ok(lines.some((l) => /^diagnosis {2}vanishing/.test(l)));
      assert.ok(lines.some((l) => /more layer\(s\)/.test(l)));
    });

    it('shows the transfer time and bytes of a remote executor', () => {
      const s = new Summary();
      s.add(
        asRecord({
          ...healthy(1),
          executors: [
            {
              id: 'remote-ab12',
              kind: 'remote',
              leaves: [0, 4],
              examples: 64,
              computeMs: 12,
              transferMs: 3.5,
              bytesOut: 2 * 1024 * 1024,
              bytesIn: 4096,
              slowest: true,
            },
          ],
        }),
      );
      assert.match(
        renderPlain(s).join('\n'),
        /^executors {2}remote-ab12 \(remote\) 64 ex 12 ms \(transfer 3\.5 ms, 2 MiB out, 4 KiB in\) slowest$/m,
      );
    });

    it('says so when there is no step yet', () => {
      const text = renderScreen(new Summary()).join('\n');
      assert.match(text, /no step records yet/);
    });

    it('strips terminal escapes coming from a record', () => {
      const s = new Summary();
      const r = {
        ...healthy(1),
        run: 'evil\x1b]0;pwned\x07',
        executors: [{ id: '\x1b[2Jmain', kind: 'main', leaves: [0, 1], examples: 1, computeMs: 1 }],
      };
      s.add(asRecord(r));
      const text = renderScreen(s, { columns: 200 }).join('\n');
      assert.doesNotMatch(text, /\x1b/);
      assert.match(text, /\?\[2Jmain/);
    });

    it('computes a diagnosis for version-0 records, which carry none', async () => {
      const s = await summaryOf('run-v0.ndjson');
      assert.equal(s.latest?.schema, 0);
      assert.deepEqual(s.diagnosis?.states, ['ok']);
      assert.match(renderPlain(s).join('\n'), /^diagnosis {2}ok$/m);
    });

    it('shows the evidence of each state under the diagnosis', () => {
      const s = new Summary();
      s.add(
        asRecord({
          ...healthy(1),
          diagnosis: { states: ['exploding', 'saturated'], evidence: { exploding: 'grew 1e3x', saturated: 'layer 0 90 %' } },
        }),
      );
      const lines = renderPlain(s);
      const i = lines.findIndex((l) => l === 'diagnosis  exploding, saturated');
      assert.ok(i >= 0);
      assert.deepEqual(lines.slice(i + 1, i + 3), ['  exploding: grew 1e3x', '  saturated: layer 0 90 %']);
    });

    it('starts over when a new run appears in the same file', () => {
      const s = new Summary();
      s.add(asRecord({ ...healthy(1), run: 'a', layers: [layer(0, 'tanh'), layer(1, 'tanh'), layer(2, 'softmax')] }));
      s.add(asRecord({ ...healthy(1), run: 'b' }));
      assert.equal(s.steps, 1);
      assert.equal(renderPlain(s).filter((l) => /^\d+ +(tanh|softmax)/.test(l)).length, 2);
    });
  });

  describe('plain lines', () => {
    it('prints one line per step with the diagnosis states', () => {
      const r = {
        ...stepRecord(12, { loss: 0.5, gradNorm: 0.25, layers: [layer(0, 'tanh')] }),
        diagnosis: { states: ['ok'], evidence: {} },
      } as StepRecord;
      assert.equal(stepLine(r), 'step 12 epoch 0 loss 0.5 |g| 0.25 1,000 ex/s [ok]');
    });

    it('prints the evidence only when the diagnosis changes', () => {
      const ok = { states: ['ok' as const], evidence: {} };
      const conv = { states: ['converged' as const], evidence: { converged: 'flat' } };
      assert.deepEqual(diagnosisChange(ok, ok, 5), []);
      assert.deepEqual(diagnosisChange(ok, conv, 6), ['diagnosis at step 6: converged', '  converged: flat']);
    });
  });

  describe('text helpers', () => {
    it('cuts a coloured line to a width and resets the colour', () => {
      const cut = fitWidth('\x1b[31mabcdef\x1b[0m', 3);
      assert.equal(cut, '\x1b[31mabc\x1b[0m');
      assert.equal(visibleWidth(cut), 3);
    });

    it('wraps words to a width with an indent', () => {
      assert.deepEqual(wrap('aa bb cc dd', 5, ' '), ['aa bb', ' cc', ' dd']);
    });
  });
});
