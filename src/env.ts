/**
 * env.ts — every GRADSYNC_* environment variable, parsed in one place (horovod's env_parser).
 *
 *   GRADSYNC_TOKEN      shared secret of remote workers and the live stream (never logged)
 *   GRADSYNC_DATA_DIR   a folder holding the Fashion-MNIST IDX files (bench, configs with "idx")
 * Only cli/ (and scripts/) read this file; lower layers take explicit options.
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
