/**
 * tls-cert.ts — a fresh self-signed certificate for 127.0.0.1 (EC P-256, valid 2 days), made by
 * the openssl CLI into a temp folder; null where there is no openssl (the caller skips).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { tempDir } from './paths';

export interface TestCert {
  cert: Buffer;
  key: Buffer;
  certFile: string;
  keyFile: string;
}

export function selfSignedCert(): TestCert | null {
  const dir = tempDir('gradsync-cert-');
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  const r = spawnSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    { encoding: 'utf8' },
  );
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') return null;
  if (r.status !== 0) throw new Error(`openssl could not make a test certificate: ${r.stderr}`);
  return { cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile), certFile, keyFile };
}
