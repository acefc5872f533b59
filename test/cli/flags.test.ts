/**
 * flags.test.ts — the flag values more than one command parses: here the shared token, which
 * train, worker and tail read the same way (readToken).
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readToken } from '../../src/cli/flags';
import { GradsyncError } from '../../src/errors';
import { tempDir } from '../helpers/paths';

describe('cli/flags: readToken', () => {
  const file = (text: string): string => {
    const f = path.join(tempDir(), 'token');
    fs.writeFileSync(f, text);
    return f;
  };

  it('is the first line of --token-file, without surrounding white space; the rest of the file is not token', () => {
    assert.equal(readToken(file('tok-1\n')), 'tok-1');
    assert.equal(readToken(file('tok-2')), 'tok-2');
    assert.equal(readToken(file('  tok-3 \r\nsecond line\n')), 'tok-3');
    assert.equal(readToken(file('tok 4 with spaces\n# a note\n')), 'tok 4 with spaces');
  });

  it('is GRADSYNC_TOKEN without --token-file, and undefined when that is unset or empty', () => {
    const saved = process.env.GRADSYNC_TOKEN;
    try {
      process.env.GRADSYNC_TOKEN = 'from-env';
      assert.equal(readToken(undefined), 'from-env');
      assert.equal(readToken(file('from-file\n')), 'from-file', 'the file wins over the environment');
      process.env.GRADSYNC_TOKEN = '';
      assert.equal(readToken(undefined), undefined);
      delete process.env.GRADSYNC_TOKEN;
      assert.equal(readToken(undefined), undefined);
    } finally {
      if (saved === undefined) delete process.env.GRADSYNC_TOKEN;
      else process.env.GRADSYNC_TOKEN = saved;
    }
  });

  it('refuses a missing file and an empty first line as usage errors naming the flag and the file', () => {
    const missing = path.join(tempDir(), 'nope');
    const usage =
      (message: RegExp) =>
      (e: unknown): boolean => {
        assert.ok(e instanceof GradsyncError);
        assert.equal(e.code, 'GS_ERR_USAGE');
        assert.equal(e.exitCode, 2);
        assert.match(e.message, message);
        return true;
      };
    assert.throws(() => readToken(missing), usage(new RegExp(`^--token-file ${missing}: ENOENT$`)));
    const blank = file('\nthe token on line 2\n');
    assert.throws(() => readToken(blank), usage(new RegExp(`^--token-file ${blank}: its first line, the token, is empty$`)));
  });
});
