/**
 * cli/train.ts — `gradsync train [config]`: flags over the config, progress, summary.
 * The console shows the progress bar (epoch, ETA) or about 20 plain step lines, one line per
 * held-out evaluation and per worker joining, leaving, dropped or refused (run-events.ts: from
 * the run's records, through TrainOptions.tee), and with --monitor the live stream's and the
 * dashboard's address.
 */

import { browserWorkerPages } from './browser-worker-assets';
import type * as cliProgress from 'cli-progress';
import type pino from 'pino';
import { loadConfigFile } from '../config/load';
import { validate } from '../config/validate';
import type { RunConfig } from '../config';
import { Errors, GradsyncError } from '../errors';
import type { LiveServer } from '../observe/live-server';
import { train, type TrainSummary } from '../train/loop';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findResumePoint, listCheckpoints } from '../train/checkpoint';
import type { ExecutorContext, ExecutorSource } from '../train/loop';
import { isLoopback } from '../net/loopback';
import { intFlag, kernelFlag, readFileFlag, readToken } from './flags';
import { defaultConfigPath } from './paths';
import { fmt, humanOut, type Io } from './io';
import { dashboardPagesOrNote } from './dashboard-assets';
import { recordConsoleLine } from './run-events';
import { load } from './lazy';

export interface TrainFlags {
  threads?: string;
  steps?: string;
  epochs?: string;
  lr?: string;
  batch?: string;
  microBatch?: string;
  seed?: string;
  dtype?: string;
  runDir?: string;
  resume?: string;
  autoResume?: boolean;
  kernels?: string;
  kernelProfile?: string;
  json?: boolean;
  progress?: boolean;
  pin?: boolean;
  listen?: string;
  tokenFile?: string;
  tlsCert?: string;
  tlsKey?: string;
  waitWorkers?: string;
  audit?: string;
  replicate?: string;
  monitor?: string;
}

/** Parses --listen / --monitor [HOST:]PORT (HOST defaults to 127.0.0.1; IPv6 as [::1]:PORT). */
export function parseListen(v: string, flag = 'listen'): { host: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(v.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw Errors.usage(`--${flag} must be [HOST:]PORT (e.g. 7070 or 0.0.0.0:7070), got "${v}"`);
  return { host: m[1] ? m[1].replace(/^\[|\]$/g, '') : '127.0.0.1', port };
}

function numFlag(name: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw Errors.usage(`--${name} must be a positive number, got "${v}"`);
  return n;
}

/** The config file (or `base`, or the embedded default) with the flags applied, validated again. */
export function configWithFlags(file: string | undefined, f: TrainFlags, base?: RunConfig): RunConfig {
  const cfg = file === undefined && base !== undefined ? base : loadConfigFile(file ?? defaultConfigPath());
  const o: Record<string, unknown> = JSON.parse(JSON.stringify(cfg));
  if (f.threads !== undefined) o.threads = f.threads === 'auto' ? 'auto' : intFlag('threads', f.threads, 0);
  if (f.steps !== undefined) o.steps = intFlag('steps', f.steps, 1);
  if (f.epochs !== undefined) {
    o.epochs = intFlag('epochs', f.epochs, 1);
    o.steps = null;
  }
  if (f.lr !== undefined) (o.optimizer as Record<string, unknown>).lr = numFlag('lr', f.lr);
  if (f.batch !== undefined) o.batch = f.batch === 'full' ? 'full' : intFlag('batch', f.batch, 1);
  if (f.microBatch !== undefined) o.microBatch = intFlag('micro-batch', f.microBatch, 1);
  if (f.seed !== undefined) o.seed = intFlag('seed', f.seed, 0);
  if (f.replicate !== undefined) {
    if (f.replicate !== '1' && f.replicate !== '2') throw Errors.usage(`--replicate must be 1 or 2, got "${f.replicate}"`);
    o.replicate = Number(f.replicate);
  }
  if (f.audit !== undefined) {
    const p = Number(f.audit);
    if (f.audit.trim() === '' || !(p >= 0 && p <= 1)) throw Errors.usage(`--audit must be a probability from 0 to 1, got "${f.audit}"`);
    o.audit = p;
  }
  if (f.dtype !== undefined) o.dtype = f.dtype;
  if (f.kernelProfile !== undefined) o.kernelProfile = f.kernelProfile;
  if (f.pin === false) o.pinThreads = false;
  try {
    return validate(o);
  } catch (e) {
    throw Errors.usage((e as Error).message);
  }
}

/** The plain lines' ETA: the steps still to go at the mean pace since the first step. */
class Eta {
  private t0 = 0;
  private s0 = 0;
  begin(startStep: number): void {
    this.t0 = performance.now();
    this.s0 = startStep;
  }
  line(step: number, total: number): string {
    const done = step - this.s0;
    if (done <= 0 || step >= total) return '';
    const sec = (((performance.now() - this.t0) / done) * (total - step)) / 1000;
    return ` eta ${sec < 90 ? `${Math.ceil(sec)} s` : `${Math.ceil(sec / 60)} min`}`;
  }
}

/**
 * --auto-resume: the flags with --resume RUN_DIR when the run folder holds a checkpoint, as they
 * are otherwise (a fresh start there). A job that may be restarted (an evicted pod) runs one
 * command every time, as Keras's BackupAndRestore: the first run starts, a restart continues.
 * A folder whose checkpoints all fail to verify is an error (findResumePoint), never a silent restart.
 */
export function withAutoResume(f: TrainFlags): TrainFlags {
  if (f.autoResume !== true) return f;
  if (f.runDir === undefined) throw Errors.usage('--auto-resume needs --run-dir: the folder a restarted run continues from');
  if (f.resume !== undefined) throw Errors.usage('--auto-resume and --resume exclude each other: --auto-resume resumes --run-dir');
  return listCheckpoints(path.join(f.runDir, 'checkpoints')).length > 0 ? { ...f, resume: f.runDir } : f;
}

export async function trainCommand(file: string | undefined, flags: TrainFlags, io: Io): Promise<number> {
  const f = withAutoResume(flags);
  const listen = f.listen !== undefined ? parseListen(f.listen) : null;
  const token = readToken(f.tokenFile);
  if (listen && token === undefined && !isLoopback(listen.host)) {
    // a usage error (exit 2) like --monitor's: nothing has started
    throw new GradsyncError(
      'GS_ERR_AUTH',
      `refusing to accept remote workers on ${listen.host} without a token: anyone who can reach it could join the run`,
      'set GRADSYNC_TOKEN or --token-file, or listen on 127.0.0.1',
      2,
    );
  }
  if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) throw Errors.usage('--tls-cert and --tls-key go together');
  const tls =
    f.tlsCert !== undefined && f.tlsKey !== undefined
      ? { cert: readFileFlag('tls-cert', f.tlsCert), key: readFileFlag('tls-key', f.tlsKey) }
      : undefined;
  const waitWorkers = f.waitWorkers !== undefined ? intFlag('wait-workers', f.waitWorkers, 0) : 0;
  if (waitWorkers > 0 && !listen) throw Errors.usage('--wait-workers needs --listen');
  const monitor = f.monitor !== undefined ? parseListen(f.monitor, 'monitor') : null;
  // --resume RUN_DIR: the run folder is also where it goes on (same log, same checkpoints),
  // and without a config file the run's own config (from its checkpoint) applies
  const resumeRunDir = f.resume !== undefined && fs.existsSync(path.join(f.resume, 'checkpoints')) ? f.resume : undefined;
  const cfg = configWithFlags(
    file,
    f,
    f.resume !== undefined && file === undefined ? findResumePoint(f.resume).checkpoint.header.config : undefined,
  );
  const json = f.json === true;
  const out = humanOut(io, json);
  // the live record stream: every log line, as published, to `gradsync tail ws://…` subscribers
  // (over wss:// with the workers' certificate); its own records go to the run's log once it exists
  const pages = monitor ? dashboardPagesOrNote() : null;
  const live: LiveServer | null = monitor
    ? await load<typeof import('../observe/live-server')>('../observe/live-server').startLiveServer({
        host: monitor.host,
        port: monitor.port,
        ...(token !== undefined ? { token } : {}),
        ...(tls ? { tls } : {}),
        pages: pages!.pages,
      })
    : null;
  if (live) {
    out.write(
      `live record stream on ${live.url} (watch: gradsync tail ${live.url}${token !== undefined ? ', token required' : ''}${tls ? ', --ca CERT if self-signed' : ''})\n`,
    );
    const page = live.url.replace(/^ws/, 'http');
    out.write(
      pages!.note ?? `dashboard on ${page}/${token !== undefined ? ' (token: typed into the page, or ' + page + '/#token=…)' : ''}\n`,
    );
  }
  const tty = out.isTTY === true && f.progress !== false;
  // SIGTERM (a pod evicted, a job cancelled) or Ctrl-C: the step in progress ends, its
  // checkpoint and the end record are written, and the exit status is 128 + the signal's
  // number, so a scheduler restarts the run and --auto-resume continues from that step (a
  // Job must not count it as done); a second signal exits at once
  const stop = new AbortController();
  let caught: NodeJS.Signals | null = null;
  const onSignal = (sig: NodeJS.Signals): void => {
    if (caught !== null) process.exit(signalStatus(sig));
    caught = sig;
    io.stderr.write(
      `gradsync: ${sig}: stopping after the step in progress (checkpoint, then exit ${signalStatus(sig)}); ${sig} again exits now\n`,
    );
    stop.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  let bar: cliProgress.SingleBar | null = null;
  /** A console line for a record other than a step (an epoch's evaluation, a worker's event), above the bar. */
  const say = (line: string): void => {
    if (bar) {
      out.write(`\r\x1b[2K${line}\n`);
      (bar as cliProgress.SingleBar).render();
    } else out.write(`${line}\n`);
  };
  // every record of the run: published to the live stream; the ones with a console line, printed
  const tee = (line: string): void => {
    const isStep = line.endsWith('"msg":"step"}\n');
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return; // a line that does not parse is neither published nor printed
    }
    live?.publish(rec, line.trimEnd());
    if (!isStep) {
      const l = recordConsoleLine(rec);
      if (l !== null) say(l);
    }
  };
  let total = 0;
  let lastLine = 0;
  const eta = new Eta();
  let summary: TrainSummary;
  try {
    summary = await train(cfg, {
      signal: stop.signal,
      tee,
      // the step records only to the live stream: the console prints them through onStep
      teeSteps: live !== null,
      ...(live ? { onLogger: (log: pino.Logger) => live.useLogger(log) } : {}),
      ...(f.runDir !== undefined ? { runDir: f.runDir } : resumeRunDir !== undefined ? { runDir: resumeRunDir } : {}),
      ...(f.resume !== undefined ? { resumeFrom: f.resume } : {}),
      kernels: kernelFlag(f.kernels),
      // the command owns its process: compute threads pinned unless --no-pin (config pinThreads)
      processControl: true,
      ...(listen
        ? {
            joinable: async (ctx: ExecutorContext): Promise<ExecutorSource> => {
              const c = await load<typeof import('../parallel/coordinator-server')>('../parallel/coordinator-server').startCoordinator({
                host: listen.host,
                port: listen.port,
                run: ctx.run,
                spec: ctx.spec,
                profile: ctx.cfg.kernelProfile,
                microBatch: ctx.microBatch,
                data: ctx.data,
                logger: ctx.logger,
                ...(token !== undefined ? { token } : {}),
                ...(tls ? { tls } : {}),
                pages: browserWorkerPages(),
              });
              out.write(
                `listening for workers on ${c.url} (join: gradsync worker --join ${c.url}${token !== undefined ? ', token required' : ''})\n`,
              );
              out.write(
                `browser worker: ${c.url.replace(/^ws/, 'http')}/worker${token !== undefined ? ' (give the token in the page, or as #token=…)' : ''}\n`,
              );
              if (waitWorkers > 0) {
                out.write(`waiting for ${waitWorkers} worker${waitWorkers > 1 ? 's' : ''}…\n`);
                try {
                  // a signal ends the wait: the run then stops as it does mid-step (checkpoint, 128 + signal)
                  await c.waitForWorkers(waitWorkers, 600_000, stop.signal);
                } catch (e) {
                  await c.close();
                  throw e;
                }
              }
              return c;
            },
          }
        : {}),
      onStart: (s) => {
        total = s.totalSteps;
        eta.begin(s.startStep);
        out.write(
          `gradsync run ${s.run}: ${s.trainExamples} training examples${s.heldOutExamples ? `, ${s.heldOutExamples} held out` : ''}, ${s.totalSteps} steps, kernel ${s.kernel}, executors ${s.executors.join(', ')}\n`,
        );
        if (s.kernelNote) out.write(`note: ${s.kernelNote}\n`);
        for (const sk of s.resume?.skipped ?? [])
          io.stderr.write(`gradsync: warning: skipped corrupt checkpoint ${sk.file} (${sk.code}): ${sk.reason}\n`);
        if (s.resume) out.write(`resumed from ${s.resume.file} at step ${s.resume.step}\n`);
        out.write(`log: ${s.logFile ?? '(custom logger)'}\n`);
        if (tty) {
          const progress = load<typeof cliProgress>('cli-progress');
          bar = new progress.SingleBar(
            {
              format: 'train [{bar}] {value}/{total} steps | epoch {epoch} | ETA {eta_formatted} | loss {loss} | ‖g‖ {gnorm} | {diag}',
              etaBuffer: 50,
              stream: out as NodeJS.WriteStream,
              hideCursor: true,
            },
            progress.Presets.shades_classic,
          );
          bar.start(s.totalSteps, s.startStep, { epoch: '-', loss: '-', gnorm: '-', diag: '' });
        }
      },
      onStep: (r) => {
        if (bar) {
          bar.update(r.step, { epoch: r.epoch, loss: fmt(r.loss, 4), gnorm: fmt(r.gradNorm, 3), diag: r.diagnosis.states.join(',') });
          return;
        }
        // plain lines: about 20 per run, plus the last step
        if (r.step === total || r.step - lastLine >= Math.max(1, Math.floor(total / 20))) {
          lastLine = r.step;
          out.write(
            `step ${r.step}/${total} epoch ${r.epoch} loss ${fmt(r.loss)} gradNorm ${fmt(r.gradNorm)} ${r.diagnosis.states.join(',')}${eta.line(r.step, total)}\n`,
          );
        }
      },
    });
  } finally {
    process.removeListener('SIGTERM', onSignal);
    process.removeListener('SIGINT', onSignal);
    await live?.close();
  }
  if (bar) (bar as cliProgress.SingleBar).stop();
  out.write(
    `done: ${summary.steps} steps in ${summary.seconds.toFixed(2)} s (${Math.round(summary.samplesPerSecond)} samples/s); loss ${fmt(summary.loss)}` +
      `${summary.accuracy !== null ? `; ${summary.heldOutLoss !== null ? 'held-out ' : ''}accuracy ${(summary.accuracy * 100).toFixed(2)} %` : ''}\n`,
  );
  if (summary.stoppedEarly)
    out.write(
      `stopped early after epoch ${Math.ceil(summary.epochs) - 1}: best epoch ${summary.bestEpoch}, held-out loss ${fmt(summary.bestHeldOutLoss ?? NaN)}${cfg.earlyStopping?.restoreBest ? ' (its weights restored)' : ''}\n`,
    );
  out.write(`diagnosis: ${summary.diagnosis.states.join(', ')}\n`);
  for (const [k, v] of Object.entries(summary.diagnosis.evidence)) out.write(`  ${k}: ${v}\n`);
  out.write(`paramsSha256 ${summary.paramsSha256}\ncheckpoint: ${summary.checkpoint}\n`);
  if (json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  if (caught !== null && summary.interrupted) {
    io.stderr.write(
      `gradsync: stopped by ${caught} after step ${summary.steps}: continue with --resume ${summary.runDir} (or --auto-resume)\n`,
    );
    return signalStatus(caught);
  }
  return 0;
}

/** The shell's exit status for a process ended by `sig` (128 + its number: 143 for SIGTERM, 130 for SIGINT). */
function signalStatus(sig: NodeJS.Signals): number {
  return 128 + os.constants.signals[sig];
}
