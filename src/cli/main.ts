/**
 * cli/main.ts — argv → command. The only code that turns errors into exit codes.
 *
 * Exit codes: 0 success; 1 a failed check or a runtime failure (gradcheck mismatch,
 * non-finite stop); 2 bad input (usage, config, data, checkpoint).
 * Commander parses the flags (well-kept, typed, generates --help): hand-written argv
 * parsing is where CLIs go wrong. Each command's module is loaded when that command runs, so a
 * command does not pay for loading the others (ONNX export, the dashboard, the worker).
 */

import { Command, CommanderError } from 'commander';
import { GradsyncError } from '../errors';
import { kernelInfo } from '../tensor/select';
import { KERNEL_SPEC_VERSION } from '../tensor/kernels';
import type { GradcheckFlags } from './gradcheck';
import type { PredictFlags } from './predict';
import type { ExportFlags } from './export';
import type { TrainFlags } from './train';
import type { WorkerFlags } from './worker';
import { readFileFlag, readToken } from './flags';
import { processIo, type Io } from './io';
import { packagePath } from './paths';
import { load } from './lazy';
import * as fs from 'node:fs';

function version(): string {
  const pj = JSON.parse(fs.readFileSync(packagePath('package.json'), 'utf8')) as { version: string };
  const k = kernelInfo();
  return `gradsync ${pj.version} (kernel spec v${KERNEL_SPEC_VERSION}; active kernel ${k.active}; available: ${k.available.join(', ')}; fma profile: ${k.availableFma.join(', ')})`;
}

export async function main(argv: string[], io: Io = processIo()): Promise<number> {
  let code = 0;
  const program = new Command();
  program
    .name('gradsync')
    .description('Data-parallel neural-network trainer: provable gradients, bit-identical across threads and machines')
    .version(version(), '-V, --version')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) });

  program
    .command('train')
    .description('train a model (no config: the embedded digits run)')
    .argument('[config]', 'JSON config file (see config/)')
    .option('--threads <n>', 'threads computing partials, the main thread included (1: the main thread alone; default: the cores)')
    .option('--steps <n>', 'total optimizer steps (overrides epochs)')
    .option('--epochs <n>', 'epochs')
    .option('--lr <x>', 'learning rate')
    .option('--batch <n>', 'examples per step, or "full"')
    .option('--micro-batch <n>', 'examples per reduction-tree leaf')
    .option('--seed <n>', 'seed of init, data order and split')
    .option('--dtype <t>', 'float32 or float64')
    .option('--run-dir <dir>', 'folder for log.ndjson and checkpoints (default runs/<id>)')
    .option(
      '--resume <checkpoint|run-dir>',
      'continue from a checkpoint file, or from the newest valid checkpoint of a run folder (same log, same config unless one is given)',
    )
    .option(
      '--auto-resume',
      'with --run-dir: continue from its newest valid checkpoint when it has one, else start there (a job that may restart)',
    )
    .option('--kernels <k>', 'auto | native | wasm | ref', 'auto')
    .option(
      '--kernel-profile <p>',
      'portable | fma: how GEMM terms round (config kernelProfile, default portable: every executor, browsers included; fma: one fused multiply-add, no WebAssembly)',
    )
    .option('--listen <[host:]port>', 'accept remote workers on this address (host default 127.0.0.1; off loopback a token is required)')
    .option('--token-file <file>', 'file whose first line is the shared token of remote workers (or GRADSYNC_TOKEN)')
    .option('--tls-cert <file>', 'PEM certificate: remote workers join, and --monitor serves, over wss://')
    .option('--tls-key <file>', 'PEM private key of --tls-cert')
    .option('--wait-workers <n>', 'with --listen: wait (up to 10 min; a signal stops the wait) for n workers before the first step')
    .option('--replicate <n>', 'with --listen: 2 = each remote range computed by two workers and compared (config replicate)')
    .option(
      '--audit <p>',
      "with --listen: recompute each remote worker's answer with probability p (0..1) and drop a worker whose answer differs (config audit)",
    )
    .option(
      '--monitor <[host:]port>',
      'serve the live record stream for `gradsync tail ws://…` (wss:// with --tls-cert; off loopback a token is required)',
    )
    .option(
      '--no-pin',
      'let compute threads float between CPUs (default: each pinned to a CPU of its own when there is one for each; config pinThreads)',
    )
    .option('--no-progress', 'plain lines instead of a progress bar')
    .option('--json', 'print one JSON summary object on stdout at the end')
    .action(async (config: string | undefined, f: TrainFlags) => {
      code = await load<typeof import('./train')>('./train').trainCommand(config, f, io);
    });

  program
    .command('gradcheck')
    .description('check backward() against central differences, per tensor, in float64')
    .argument('[config]', 'JSON config file')
    .option('--eps <x>', 'perturbation ε (default 1e-6)')
    .option('--threshold <x>', 'largest max relative error that passes (default 1e-5)')
    .option('--samples <k>', 'entries checked per large tensor (default 25)')
    .option('--examples <n>', 'training examples in the objective (default 32)')
    .option('--seed <n>', 'seed of the initial weights and the sample')
    .option('--sweep', 'also report the error for ε = 1e-2 … 1e-9')
    .option('--json', 'print the result as one JSON object on stdout')
    .action(async (config: string | undefined, f: GradcheckFlags) => {
      code = await load<typeof import('./gradcheck')>('./gradcheck').gradcheckCommand(config, f, io);
    });

  program
    .command('predict')
    .description('outputs of a trained model for rows of numbers read from stdin (or --input)')
    .requiredOption('--checkpoint <file|run-dir>', 'checkpoint written by train, or a run folder: its newest valid checkpoint')
    .option('--input <file>', 'CSV/whitespace rows instead of stdin')
    .option('--json', 'print all outputs as one JSON object on stdout')
    .action(async (f: PredictFlags) => {
      code = await load<typeof import('./predict')>('./predict').predictCommand(f, io);
    });

  program
    .command('export')
    .description('write a trained model as ONNX (runs in onnxruntime) or safetensors (a PyTorch nn.Sequential state dict); docs/export.md')
    .requiredOption('--checkpoint <file|run-dir>', 'checkpoint written by train, or a run folder: its newest valid checkpoint')
    .requiredOption('--format <f>', 'onnx | safetensors')
    .requiredOption('--out <file>', 'file to write (atomically)')
    .option('--json', 'print a JSON summary object on stdout')
    .action(async (f: ExportFlags) => {
      code = await load<typeof import('./export')>('./export').exportCommand(f, io);
    });

  program
    .command('tail')
    .description("follow a run's gradient-norm log (file, or ws:// or wss://host:port) with a live diagnosis")
    .argument('<target>', 'log.ndjson path, or ws://HOST:PORT (wss:// with --tls-cert) of a coordinator started with --monitor')
    .option('--json', 'pass records through, one per line (for jq)')
    .option('--once', 'print the summary of what is there now and exit')
    .option('--window <n>', 'steps in the sparklines', '60')
    .option(
      '--token-file <file>',
      'file whose first line is the token of a coordinator off loopback (or GRADSYNC_TOKEN); proven, never sent',
    )
    .option('--ca <file>', 'PEM certificate to trust for wss:// (a self-signed coordinator)')
    .action(async (target: string, f: { json?: boolean; once?: boolean; window: string; tokenFile?: string; ca?: string }) => {
      const token = readToken(f.tokenFile);
      const ca = f.ca !== undefined ? readFileFlag('ca', f.ca) : undefined;
      // Ctrl-C ends following cleanly (exit 0, screen left in place)
      const stop = new AbortController();
      const onInt = (): void => stop.abort();
      process.once('SIGINT', onInt);
      try {
        code = await load<typeof import('./tail')>('./tail').tailCommand(
          target,
          { json: f.json === true, once: f.once === true, window: Number(f.window), ...(token ? { token } : {}), ...(ca ? { ca } : {}) },
          { ...io, signal: stop.signal },
        );
      } finally {
        process.removeListener('SIGINT', onInt);
      }
    });

  program
    .command('view')
    .description('the dashboard of a run, finished or still running, from its log: served on loopback until Ctrl-C')
    .argument('<run>', 'run folder (its log.ndjson) or log file')
    .option('--port <p>', 'port to serve on (default: a free one, printed)')
    .option('--host <h>', 'address to serve on (default 127.0.0.1; off loopback a token is required)')
    .option('--token-file <file>', 'file whose first line is the token the page must prove (or GRADSYNC_TOKEN)')
    .action(async (run: string, f: { port?: string; host?: string; tokenFile?: string }) => {
      const token = readToken(f.tokenFile);
      const stop = new AbortController();
      const onInt = (): void => stop.abort();
      process.once('SIGINT', onInt);
      process.once('SIGTERM', onInt);
      try {
        code = await load<typeof import('./view')>('./view').viewCommand(
          run,
          {
            ...(f.port !== undefined ? { port: f.port } : {}),
            ...(f.host !== undefined ? { host: f.host } : {}),
            ...(token ? { token } : {}),
          },
          { ...io, signal: stop.signal },
        );
      } finally {
        process.removeListener('SIGINT', onInt);
        process.removeListener('SIGTERM', onInt);
      }
    });

  program
    .command('worker')
    .description('join a coordinator as a remote worker node')
    .requiredOption('--join <url>', 'ws://HOST:PORT or wss://HOST:PORT')
    .option(
      '--threads <n>',
      "compute threads (0 or 1: the worker's main thread; N > 1: a pool of N threads while the main thread serves the socket; default: the cores)",
    )
    .option('--token-file <file>', 'file whose first line is the shared token (or GRADSYNC_TOKEN)')
    .option('--data-dir <dir>', "cache of datasets by hash: used when it holds the run's data, filled otherwise")
    .option('--id <name>', 'worker id ([A-Za-z0-9._-], default <hostname>-<pid>)')
    .option('--ca <file>', 'PEM certificate to trust for wss:// (a self-signed coordinator)')
    .option('--kernels <k>', 'auto | native | wasm | ref', 'auto')
    .option(
      '--retry <seconds>',
      'join again when the connection breaks or the coordinator is not up yet, for up to this long after the last session (0: never)',
      '0',
    )
    .action(async (f: WorkerFlags) => {
      code = await load<typeof import('./worker')>('./worker').workerCommand(f, io);
    });

  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.exitCode === 0) return 0;
      return 2; // commander already printed the message
    }
    if (e instanceof GradsyncError) {
      io.stderr.write(`gradsync: error ${e.code}: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
      return e.exitCode;
    }
    io.stderr.write(`gradsync: internal error: ${(e as Error).stack ?? String(e)}\n`);
    return 1;
  }
  return code;
}
