/**
 * env.ts — the GRADSYNC_* environment variables the library, the CLI and the benches read, parsed
 * in one place (horovod's env_parser). An empty value counts as unset.
 *
 *   GRADSYNC_TOKEN      shared secret of remote workers and the live stream, when no --token-file
 *                       is given (cli/flags.ts readToken, workers/remote-node.ts); never logged
 *   GRADSYNC_DATA_DIR   a folder holding the four Fashion-MNIST IDX files, read by the benches
 *                       only (scripts/bench-common.ts findData); a config's "idx" source names
 *                       its own data.dir and `gradsync train` never reads this variable
 * Only cli/, workers/ and scripts/ read this file; lower layers take explicit options.
 * Not here: GRADSYNC_SKIP_NATIVE (scripts/build-native.js, at install, before anything is
 * compiled) and GRADSYNC_FAULT (the test preload, test/fixtures/fault-env.ts).
 */

export const ENV = {
  token: 'GRADSYNC_TOKEN',
  dataDir: 'GRADSYNC_DATA_DIR',
} as const;

export function envToken(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const t = env[ENV.token];
  return t === undefined || t === '' ? undefined : t;
}

export function envDataDir(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const d = env[ENV.dataDir];
  return d === undefined || d === '' ? undefined : d;
}
