/**
 * The run's log file (observe/logger.ts LogFile, the destination of runLoggers): each record
 * one complete NDJSON line, appended; a short write continued from its byte; a write that
 * fails throws GS_ERR_IO naming the file and leaves the lines before it whole. The step
 * writer (runLoggers' `step`) writes the line pino would write for the same fields.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as path from 'node:path';
import { GradsyncError } from '../../src/errors';
import pino from 'pino';
import { LogFile, pinoStepWriter, REDACT_PATHS, runLoggers, streamLogger } from '../../src/observe/logger';
import type { StepFields } from '../../src/observe/step-json';
import { stepFields } from '../helpers/step-fields';
import { LOG_SCHEMA_VERSION } from '../../src/observe/schema';
import { injectFsFault } from '../helpers/fs-faults';
import { openOn, tempDir } from '../helpers/paths';

const lines = (file: string): string[] => fs.readFileSync(file, 'utf8').split('\n');

/** The bytes writeSync(fd, data, offset?, length?) is asked to write. */
function asked(data: Uint8Array, rest: unknown[]): Uint8Array {
  const from = typeof rest[0] === 'number' ? rest[0] : 0;
  return data.subarray(from, typeof rest[1] === 'number' ? from + rest[1] : data.length);
}

/** Patches fs.writeSync so that the first write to `fd` takes only `first` bytes (what a kernel may do); returns the restore. */
function shortFirstWrite(fd: number, first: number): { calls: number[]; restore: () => void } {
  const m = fs as unknown as Record<string, unknown>;
  const real = fs.writeSync;
  const calls: number[] = [];
  let done = false;
  m.writeSync = (f: number, data: string | Uint8Array, ...rest: unknown[]): number => {
    if (f !== fd) return (real as (...x: unknown[]) => number)(f, data, ...rest);
    // writeSync(fd, string) or writeSync(fd, buffer[, offset[, length]]): the bytes asked for
    const b = typeof data === 'string' ? Buffer.from(data) : asked(data, rest);
    calls.push(b.length);
    if (done) return real(f, b);
    done = true;
    return real(f, b, 0, first);
  };
  return {
    calls,
    restore: () => {
      m.writeSync = real;
    },
  };
}

/** Patches fs.writeSync to record the bytes of each call; returns them and the restore. */
function spyWrites(): { calls: number[]; restore: () => void } {
  const m = fs as unknown as Record<string, unknown>;
  const real = fs.writeSync;
  const calls: number[] = [];
  m.writeSync = (f: number, data: string | Uint8Array, ...rest: unknown[]): number => {
    calls.push(typeof data === 'string' ? Buffer.byteLength(data) : asked(data, rest).length);
    return (real as (...x: unknown[]) => number)(f, data, ...rest);
  };
  return {
    calls,
    restore: () => {
      m.writeSync = real;
    },
  };
}

describe('LogFile (observe/logger.ts): the run log, synchronous writes', () => {
  it('writes each record as one complete line with the run and schema, appended after what the file held, text beyond ASCII intact', () => {
    const file = path.join(tempDir(), 'sub', 'log.ndjson');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, '{"earlier":true}\n');
    const { log, step } = runLoggers(file, 'run-a');
    log.info({ note: 'µ ‖W‖ — 2×' }, 'hello');
    step.write('info', stepFields({ step: 1, loss: 0.25 }));
    step.flush();
    const got = lines(file);
    assert.equal(got.length, 4, 'three lines and the empty string after the last newline');
    assert.equal(got[3], '');
    assert.deepEqual(JSON.parse(got[0]!), { earlier: true });
    const a = JSON.parse(got[1]!) as Record<string, unknown>;
    const b = JSON.parse(got[2]!) as Record<string, unknown>;
    assert.equal(a.note, 'µ ‖W‖ — 2×');
    assert.equal(a.msg, 'hello');
    assert.equal(b.step, 1);
    assert.equal(b.loss, 0.25);
    for (const r of [a, b]) {
      assert.equal(r.run, 'run-a');
      assert.equal(r.schema, LOG_SCHEMA_VERSION);
      assert.equal(typeof r.time, 'number');
    }
  });

  it('creates the directories the file is in', () => {
    const file = path.join(tempDir(), 'a', 'b', 'log.ndjson');
    new LogFile(file).write('{"x":1}\n');
    assert.deepEqual(lines(file), ['{"x":1}', '']);
  });

  it('continues a short write from the byte where it stopped, even inside a character of several bytes', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const dest = new LogFile(file);
    const line = '{"a":"µµµµ","b":"‖x‖"}\n';
    // byte 7 is the second byte of the first µ (bytes 6-7)
    const s = shortFirstWrite(dest.fd, 7);
    try {
      dest.write(line);
      dest.write('{"next":2}\n');
    } finally {
      s.restore();
    }
    assert.deepEqual(s.calls, [Buffer.byteLength(line), Buffer.byteLength(line) - 7, 11], 'the line, its rest from byte 7, the next line');
    assert.equal(fs.readFileSync(file, 'utf8'), line + '{"next":2}\n');
  });

  it('throws GS_ERR_IO naming the file, with a hint, when the disk is full (through pino, as the run logs)', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const h = injectFsFault({ match: /log\.ndjson$/, op: 'write', atByte: 0, code: 'ENOSPC' });
    try {
      const { log } = runLoggers(file, 'run-b');
      assert.throws(
        () => log.info({ i: 1 }, 'first'),
        (e: unknown) => {
          assert.ok(e instanceof GradsyncError);
          assert.equal(e.code, 'GS_ERR_IO');
          assert.equal(e.message, `log ${file}: ENOSPC: no space left on device, write`);
          assert.match(e.hint ?? '', /free space/);
          return true;
        },
      );
      assert.equal(h.fired(), 1);
    } finally {
      h.restore();
    }
    assert.equal(fs.readFileSync(file, 'utf8'), '');
  });

  it('a disk that fills in the middle of a line: the bytes before the full point are kept, then GS_ERR_IO', () => {
    const h = injectFsFault({ match: /mid\.ndjson$/, op: 'write', atByte: 12, code: 'ENOSPC' });
    const file = path.join(tempDir(), 'mid.ndjson');
    try {
      const dest = new LogFile(file);
      dest.write('{"i":1}\n');
      assert.throws(
        () => dest.write('{"i":22}\n'),
        (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_IO' && e.message.includes(file),
      );
      assert.equal(h.fired(), 1);
    } finally {
      h.restore();
    }
    // 8 bytes of the first line, 4 of the second (a torn last line, which tail and resume handle)
    assert.equal(fs.readFileSync(file, 'utf8'), '{"i":1}\n{"i"');
  });

  it('reports a real device that is always full (/dev/full) as GS_ERR_IO', function () {
    if (!fs.existsSync('/dev/full')) this.skip();
    const { log } = runLoggers('/dev/full', 'run-c');
    assert.throws(
      () => log.info({ i: 1 }, 'x'),
      (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_IO' && /^log \/dev\/full: ENOSPC/.test(e.message),
    );
  });

  it('close() gives its descriptor back; a record after it is still appended, through a descriptor of its own', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const { log, close } = runLoggers(file, 'run-d');
    log.info({ i: 1 }, 'before');
    assert.equal(openOn(file), 1, 'one descriptor while the run lasts');
    close();
    close(); // twice is harmless
    assert.equal(openOn(file), 0, 'none after close()');
    log.info({ i: 2 }, 'after');
    assert.equal(openOn(file), 0, 'the late line opened and closed its own');
    assert.deepEqual(
      lines(file)
        .slice(0, 2)
        .map((l) => (JSON.parse(l) as { msg: string; i: number }).i),
      [1, 2],
    );
  });

  it('names the file when it cannot be opened', () => {
    const dir = tempDir();
    const file = path.join(dir, 'taken');
    fs.mkdirSync(file);
    assert.throws(
      () => new LogFile(file),
      (e: unknown) => e instanceof GradsyncError && e.code === 'GS_ERR_IO' && e.message.startsWith(`log ${file}: EISDIR`),
    );
  });
});

describe('runLoggers step writer (observe/logger.ts): the step record without pino', () => {
  /** The line pino writes for `fields` at `level` with the run's bindings, collected from a stream. */
  function pinoLine(run: string, level: 'info' | 'warn', fields: object): string {
    const out: string[] = [];
    const log = pino(
      { base: { pid: process.pid, schema: LOG_SCHEMA_VERSION, run }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
      { write: (s: string) => void out.push(s) },
    );
    log[level](fields, 'step');
    return out[0]!;
  }
  const noTime = (line: string): string => line.replace(/"time":\d+/, '"time":0');

  it("writes, byte for byte apart from the time, pino's line for the same fields, to the file and the tee", () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const teed: string[] = [];
    const { step, close } = runLoggers(file, 'run "q" µ', 'info', (s) => teed.push(s));
    const cases: ['info' | 'warn', StepFields][] = [
      ['info', stepFields({ step: 1, epoch: 0, loss: 0.125, lr: 0.07, gradNorm: 3.2e-15, clipped: false })],
      ['info', stepFields({ step: 2, loss: NaN, throughput: Infinity, gradNorm: -Infinity, lr: 5e-324, stepMs: -0 })],
      ['warn', stepFields({ step: 3, skipped: 'non-finite gradient "x" \\ \n', nonFiniteExamples: [3, 17] })],
      ['info', stepFields({ diagnosis: { states: ['ok'], evidence: { ok: 'quote " backslash \\ newline \n ‖x‖' } } })],
    ];
    for (const [level, fields] of cases) step.write(level, fields);
    close();
    const got = lines(file).slice(0, -1);
    assert.equal(got.length, cases.length);
    cases.forEach(([level, fields], i) => {
      const want = pinoLine('run "q" µ', level, fields);
      assert.equal(noTime(got[i]! + '\n'), noTime(want), `case ${i}`);
      assert.equal(teed[i], got[i]! + '\n', `tee ${i}`);
      assert.ok(Math.abs((JSON.parse(got[i]!) as { time: number }).time - Date.now()) < 60_000, 'time is the epoch in ms');
    });
  });

  it('holds step records until flush, and writes them in one write(2) before any other record, at 64 KiB held, and at close', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const { log, step, close } = runLoggers(file, 'run-h');
    const steps = (): number[] =>
      lines(file)
        .slice(0, -1)
        .map((l) => JSON.parse(l) as { step?: number; msg: string })
        .map((r) => r.step ?? -1);
    const spy = spyWrites();
    try {
      step.write('info', stepFields({ step: 1 }));
      step.write('info', stepFields({ step: 2 }));
      assert.deepEqual(steps(), [], 'held');
      step.flush();
      assert.deepEqual(steps(), [1, 2]);
      assert.equal(spy.calls.length, 1, 'two records, one write');
      step.write('info', stepFields({ step: 3 }));
      log.info({}, 'eval');
      assert.deepEqual(steps(), [1, 2, 3, -1], 'a record other than a step writes the held ones first');
      // a long run of small steps: written as the held lines pass 64 KiB
      const before = spy.calls.length;
      let n = 4;
      while (spy.calls.length === before) step.write('info', stepFields({ step: n++ }));
      assert.ok(spy.calls.at(-1)! >= 1 << 16, `${spy.calls.at(-1)} bytes in the write`);
      assert.equal(steps().length, n, 'steps 1 to n − 1 and the eval record');
      step.write('info', stepFields({ step: n }));
      close();
      assert.equal(steps().at(-1), n, 'close writes what is held');
    } finally {
      spy.restore();
    }
  });

  it('a line too long to hold writes the held ones, then itself at once: the order kept, text beyond ASCII intact', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const { step, close } = runLoggers(file, 'run µ', 'info');
    const long = 'x‖'.repeat(50_000); // 200,000 bytes of UTF-8: more than the hold buffer's 128 KiB
    step.write('info', stepFields({ step: 1 }));
    step.write('info', stepFields({ step: 2, skipped: long }));
    step.write('info', stepFields({ step: 3, executors: [{ id: 'µ‖', kind: 'remote', leaves: [0, 1], examples: 20, computeMs: 1 }] }));
    const fd = fs.openSync(file, 'r');
    const held = fs.fstatSync(fd).size;
    fs.closeSync(fd);
    assert.ok(held > 200_000, 'steps 1 and 2 are in the file once step 2 is written');
    close();
    const got = lines(file)
      .slice(0, -1)
      .map((l) => JSON.parse(l) as { step: number; skipped?: string; executors: { id: string }[] });
    assert.deepEqual(
      got.map((r) => r.step),
      [1, 2, 3],
    );
    assert.equal(got[1]!.skipped, long);
    assert.equal(got[2]!.executors[0]!.id, 'µ‖');
  });

  it('a held write cut short is continued from the byte where it stopped, inside a character of several bytes', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const dest = new LogFile(file);
    const line = '{"a":"µµµµ","b":"‖x‖"}\n';
    dest.hold(line);
    dest.hold('{"next":2}\n');
    const s = shortFirstWrite(dest.fd, 7);
    try {
      dest.flush();
    } finally {
      s.restore();
    }
    const bytes = Buffer.byteLength(line) + 11;
    assert.deepEqual(s.calls, [bytes, bytes - 7], 'the held bytes in one write, then their rest from byte 7');
    dest.close();
    assert.equal(fs.readFileSync(file, 'utf8'), line + '{"next":2}\n');
  });

  it('teeSteps false: the tee receives every line but the step records, which the file still has', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const teed: string[] = [];
    const { log, step, close } = runLoggers(file, 'run-t', 'info', (s) => teed.push(s), false);
    step.write('info', stepFields({ step: 1 }));
    log.info({ step: 1 }, 'eval');
    step.write('warn', stepFields({ step: 2 }));
    close();
    assert.deepEqual(
      teed.map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['eval'],
    );
    assert.deepEqual(
      lines(file)
        .slice(0, -1)
        .map((l) => (JSON.parse(l) as { msg: string }).msg),
      ['step', 'eval', 'step'],
    );
  });

  it("pinoStepWriter: a whole record (the loop's) goes through the caller's pino logger with msg, schema and run once each", () => {
    const out: string[] = [];
    const log = streamLogger({ write: (s: string) => void out.push(s) }, 'run-p');
    pinoStepWriter(log).write('warn', { msg: 'step', schema: LOG_SCHEMA_VERSION, run: 'run-p', ...stepFields({ step: 4 }) });
    assert.equal(out.length, 1);
    for (const key of ['"msg":', '"schema":', '"run":', '"step":']) assert.equal(out[0]!.split(key).length - 1, 1, `${key} once`);
    assert.equal(noTime(out[0]!), noTime(pinoLine('run-p', 'warn', stepFields({ step: 4 }))));
  });

  it('writes no step record below the logger level, and a warn one at level warn', () => {
    const file = path.join(tempDir(), 'log.ndjson');
    const { step, close } = runLoggers(file, 'run-e', 'warn');
    step.write('info', stepFields({ step: 1 }));
    step.write('warn', stepFields({ step: 2 }));
    close();
    const got = lines(file)
      .slice(0, -1)
      .map((l) => JSON.parse(l) as { step: number; level: number });
    assert.deepEqual(
      got.map((r) => [r.step, r.level]),
      [[2, 40]],
    );
    const silent = path.join(tempDir(), 'silent.ndjson');
    const s = runLoggers(silent, 'run-f', 'silent');
    s.step.write('warn', stepFields({ step: 1 }));
    s.close();
    assert.equal(fs.readFileSync(silent, 'utf8'), '');
  });
});
