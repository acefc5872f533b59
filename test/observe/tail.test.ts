import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LineSplitter,
  NdjsonFollower,
  SUPPORTED_SCHEMAS,
  parseRecord,
  readRecords,
  type FollowEvent,
  type GsRecord,
} from '../../src/observe/tail';
import { LOG_SCHEMA_VERSION } from '../../src/observe/schema';

export const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/logs');

const rec = (step: number, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({
    level: 30,
    schema: 1,
    run: 'r1',
    msg: 'step',
    step,
    loss: 1 / step,
    gradNorm: 0.5,
    layers: [{ layer: 0, activation: 'tanh', dJdW: 0.1, dJdWb: 0.01, W: 1, updateRatio: 1e-3, saturated: 0, dead: 0 }],
    ...extra,
  });

describe('observe/tail', () => {
  describe('parseRecord', () => {
    it('accepts records of the current schema and the one before', () => {
      assert.deepEqual(SUPPORTED_SCHEMAS, [LOG_SCHEMA_VERSION - 1, LOG_SCHEMA_VERSION]);
      const p = parseRecord(rec(3));
      assert.ok(p.ok);
      assert.equal(p.record.schema, 1);
      assert.equal(p.record.step, 3);
      const p0 = parseRecord(rec(3, { schema: 0 }));
      assert.ok(p0.ok && p0.record.schema === 0);
    });

    it('reads a version-0 step record (no schema field) and upgrades it', () => {
      const v0 = JSON.parse(rec(4)) as Record<string, unknown>;
      delete v0.schema;
      (v0.layers as Record<string, unknown>[])[0] = { layer: 0, activation: 'tanh', dJdW: 0.1, dJdWb: 0.01, W: 1 };
      const p = parseRecord(JSON.stringify(v0));
      assert.ok(p.ok);
      assert.equal(p.record.schema, 0);
      assert.deepEqual(p.record.executors, []);
      const l = (p.record.layers as Record<string, number>[])[0]!;
      assert.deepEqual([l.updateRatio, l.saturated, l.dead], [0, 0, 0]);
    });

    it('reads every line of the version-0 and version-1 fixtures as records', async () => {
      for (const f of ['run-v0.ndjson', 'run-v1.ndjson']) {
        const stats = await readRecords(path.join(FIXTURES, f), () => undefined);
        assert.equal(
          Object.values(stats.skipped).reduce((a, b) => a + b, 0),
          0,
          f,
        );
        assert.ok(stats.records >= 40, f);
      }
    });

    it('reads null numbers (how pino writes NaN and Infinity) as NaN', () => {
      const p = parseRecord(rec(1, { loss: null }));
      assert.ok(p.ok);
      assert.ok(Number.isNaN(p.record.loss));
    });

    it('skips lines that are not gradsync records, saying why', () => {
      assert.deepEqual(parseRecord('hello world'), { ok: false, reason: 'notJson' });
      assert.deepEqual(parseRecord('{"step": 1,'), { ok: false, reason: 'notJson' });
      assert.deepEqual(parseRecord('[1,2]'), { ok: false, reason: 'notJson' });
      assert.deepEqual(parseRecord('{"level":30,"msg":"listening"}'), { ok: false, reason: 'notRecord' });
      assert.deepEqual(parseRecord('{"schema":"1","msg":"step"}'), { ok: false, reason: 'notRecord' });
      assert.deepEqual(parseRecord(rec(1, { schema: LOG_SCHEMA_VERSION + 1 })), {
        ok: false,
        reason: 'newerSchema',
        schema: LOG_SCHEMA_VERSION + 1,
      });
      assert.deepEqual(parseRecord(rec(1, { layers: 'many' })), { ok: false, reason: 'notRecord' });
      assert.deepEqual(parseRecord(rec(1, { layers: new Array(5000).fill({}) })), { ok: false, reason: 'notRecord' });
    });
  });

  describe('LineSplitter', () => {
    it('keeps a partial line until its newline arrives', () => {
      const s = new LineSplitter(1024);
      assert.deepEqual(s.push(Buffer.from('{"a":')), []);
      assert.deepEqual(s.push(Buffer.from('1}\n{"b"')), ['{"a":1}']);
      assert.deepEqual(s.push(Buffer.from(':2}\n')), ['{"b":2}']);
    });

    it('does not split a multi-byte character cut between two reads', () => {
      const s = new LineSplitter(1024);
      const bytes = Buffer.from('{"id":"‖x‖"}\n');
      assert.deepEqual([...s.push(bytes.subarray(0, 8)), ...s.push(bytes.subarray(8))], ['{"id":"‖x‖"}']);
    });

    it('skips a line longer than the limit and keeps the next one', () => {
      const s = new LineSplitter(10);
      assert.deepEqual(s.push(Buffer.from('x'.repeat(8))), []);
      assert.deepEqual(s.push(Buffer.from('x'.repeat(8))), []);
      assert.deepEqual(s.push(Buffer.from('yyy\nok\n')), ['ok']);
      assert.equal(s.tooLong, 1);
    });
  });

  describe('NdjsonFollower', () => {
    let dir: string;
    let file: string;
    let got: GsRecord[];
    let events: FollowEvent['type'][];
    let f: NdjsonFollower;

    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-tail-'));
      file = path.join(dir, 'log.ndjson');
      got = [];
      events = [];
      // never started: each test drives poll() itself, so nothing depends on timing
      f = new NdjsonFollower(file, {
        onRecord: (r) => {
          got.push(r);
        },
        onEvent: (e) => {
          events.push(e.type);
        },
      });
    });

    afterEach(async () => {
      await f.close();
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it('starts before the file exists and reads it once it appears', async () => {
      await f.poll();
      assert.deepEqual(events, ['waiting']);
      fs.writeFileSync(file, `${rec(1)}\n${rec(2)}\n`);
      await f.poll();
      assert.deepEqual(
        got.map((r) => r.step),
        [1, 2],
      );
      assert.deepEqual(events, ['waiting', 'opened']);
    });

    it('delivers a line written in two halves once, whole', async () => {
      const line = rec(1);
      fs.writeFileSync(file, line.slice(0, 40));
      await f.poll();
      assert.equal(got.length, 0);
      fs.appendFileSync(file, `${line.slice(40)}\n`);
      await f.poll();
      await f.poll();
      assert.equal(got.length, 1);
      assert.deepEqual(got[0], parseRecord(line).ok ? (parseRecord(line) as { record: GsRecord }).record : null);
      assert.equal(f.stats.skipped.notJson, 0);
    });

    it('restarts from the beginning when the file is truncated', async () => {
      fs.writeFileSync(file, `${rec(1)}\n${rec(2)}\n${rec(3)}\n`);
      await f.poll();
      fs.truncateSync(file, 0);
      fs.appendFileSync(file, `${rec(1, { run: 'r2' })}\n`);
      await f.poll();
      assert.deepEqual(
        got.map((r) => `${r.run}:${r.step}`),
        ['r1:1', 'r1:2', 'r1:3', 'r2:1'],
      );
      assert.equal(f.stats.truncations, 1);
      assert.ok(events.includes('truncated'));
    });

    it('follows a rotation by rename, draining the old file before the new one', async () => {
      fs.writeFileSync(file, `${rec(1)}\n${rec(2)}\n`);
      await f.poll();
      fs.appendFileSync(file, `${rec(3)}\n`); // written just before the rename
      fs.renameSync(file, `${file}.1`);
      await f.poll(); // no file at the path: keeps the old one
      fs.writeFileSync(file, `${rec(4)}\n`);
      await f.poll();
      assert.deepEqual(
        got.map((r) => r.step),
        [1, 2, 3, 4],
      );
      assert.equal(f.stats.rotations, 1);
      fs.appendFileSync(file, `${rec(5)}\n`);
      await f.poll();
      assert.deepEqual(
        got.map((r) => r.step),
        [1, 2, 3, 4, 5],
      );
    });

    it("keeps the old file's last record when it had no newline, and counts a torn one", async () => {
      fs.writeFileSync(file, `${rec(1)}\n${rec(2)}`);
      await f.poll();
      fs.renameSync(file, `${file}.1`);
      fs.writeFileSync(file, `${rec(3)}\n${rec(4).slice(0, 30)}`);
      await f.poll();
      fs.renameSync(file, `${file}.2`);
      fs.writeFileSync(file, `${rec(5)}\n`);
      await f.poll();
      assert.deepEqual(
        got.map((r) => r.step),
        [1, 2, 3, 5],
      );
      assert.equal(f.stats.skipped.notJson, 1);
      assert.equal(f.stats.rotations, 2);
    });

    it('counts and skips lines that are not gradsync records', async () => {
      fs.writeFileSync(
        file,
        ['starting up', rec(1), '{"level":30,"msg":"checkpoint written"}', '{not json', rec(2, { schema: 99 }), '', rec(2)].join('\n') +
          '\n',
      );
      await f.poll();
      assert.deepEqual(
        got.map((r) => r.step),
        [1, 2],
      );
      assert.deepEqual(f.stats.skipped, { notJson: 3, notRecord: 1, newerSchema: 1, tooLong: 0 });
      assert.equal(f.stats.newestSchemaSeen, 99);
      assert.equal(f.stats.records, 2);
    });

    it('reads a big file written in one go, in order', async () => {
      const lines = Array.from({ length: 3000 }, (_, i) => rec(i + 1));
      fs.writeFileSync(file, `${lines.join('\n')}\n`);
      await f.poll();
      assert.equal(got.length, 3000);
      assert.ok(got.every((r, i) => r.step === i + 1));
    });

    it('when started, polls on its own and leaves no timer behind after close()', async () => {
      // track the timers created while the follower runs (mocha keeps timers of its own)
      const live = new Set<NodeJS.Timeout>();
      const realSet = global.setTimeout;
      const realClear = global.clearTimeout;
      global.setTimeout = ((fn: () => void, ms?: number) => {
        const t: NodeJS.Timeout = realSet(() => {
          live.delete(t);
          fn();
        }, ms);
        live.add(t);
        return t;
      }) as typeof setTimeout;
      global.clearTimeout = ((t: NodeJS.Timeout) => {
        live.delete(t);
        realClear(t);
      }) as typeof clearTimeout;
      try {
        let resolveSeen!: () => void;
        const seen = new Promise<void>((r) => {
          resolveSeen = r;
        });
        const g = new NdjsonFollower(
          file,
          {
            onRecord: (r) => {
              if (r.step === 2) resolveSeen();
            },
          },
          { pollMs: 5 },
        );
        g.start();
        fs.writeFileSync(file, `${rec(1)}\n`);
        fs.appendFileSync(file, `${rec(2)}\n`);
        await seen;
        await g.close();
        assert.equal(live.size, 0);
        await g.close(); // idempotent
      } finally {
        global.setTimeout = realSet;
        global.clearTimeout = realClear;
      }
    });

    it('awaits a slow consumer before reading on (backpressure)', async () => {
      const order: string[] = [];
      const g = new NdjsonFollower(file, {
        onRecord: async (r) => {
          order.push(`start ${r.step}`);
          await new Promise((res) => setImmediate(res));
          order.push(`end ${r.step}`);
        },
      });
      fs.writeFileSync(file, `${rec(1)}\n${rec(2)}\n`);
      await g.poll();
      await g.close();
      assert.deepEqual(order, ['start 1', 'end 1', 'start 2', 'end 2']);
    });
  });

  describe('readRecords', () => {
    it('reads a file as it is now, including a whole last record without its newline', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-tail-'));
      const file = path.join(dir, 'log.ndjson');
      fs.writeFileSync(file, `${rec(1)}\nnoise\n${rec(2)}`);
      const got: number[] = [];
      const stats = await readRecords(file, (r) => {
        got.push(r.step as number);
      });
      fs.rmSync(dir, { recursive: true, force: true });
      assert.deepEqual(got, [1, 2]);
      assert.equal(stats.skipped.notJson, 1);
    });
  });
});
