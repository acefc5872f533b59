/**
 * The README's in-memory example (issue 25) runs as printed: its code block is saved under its
 * name in an empty folder where `gradsync` resolves to this package (as `npm install` of a clone
 * links it), and each `$ ` command of the block after it is run there by sh, `npx gradsync` as
 * this clone's bin/gradsync.js; what each prints must be the lines the README shows under it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot, tempDir } from '../helpers/paths';

const MARKER = /^<!-- example (\S+):/m;

/** The file name, the code block and the shell session that follow the README's example marker. */
function readmeExample(): { name: string; code: string; session: { command: string; output: string[] }[] } {
  const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
  const m = MARKER.exec(readme);
  assert.ok(m, 'README.md has no "<!-- example NAME: … -->" marker');
  const rest = readme.slice(m.index);
  const blocks = [...rest.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)];
  assert.ok(blocks.length >= 2, 'the marker is followed by a code block and a shell block');
  const [code, shell] = blocks as [RegExpMatchArray, RegExpMatchArray];
  assert.equal(code[1], 'js');
  assert.equal(shell[1], 'sh');
  const session: { command: string; output: string[] }[] = [];
  for (const line of shell[2]!.trimEnd().split('\n')) {
    if (line.startsWith('$ ')) session.push({ command: line.slice(2), output: [] });
    else session[session.length - 1]!.output.push(line);
  }
  return { name: m[1]!, code: code[2]!, session };
}

describe('README: training from your own code (issue 25)', function () {
  this.timeout(120_000);

  it('the example file runs in an empty folder and the commands print what the README shows', () => {
    const { name, code, session } = readmeExample();
    assert.match(code, /from 'gradsync'/);
    assert.ok(code.split('\n').length <= 14, 'the example stays about ten lines');
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(repoRoot(), path.join(dir, 'node_modules', 'gradsync'), 'dir');
    fs.writeFileSync(path.join(dir, name), code);
    const gradsync = `"${process.execPath}" "${path.join(repoRoot(), 'bin', 'gradsync.js')}"`;
    assert.ok(session.length >= 2, 'the session runs the example and one more command');
    for (const { command, output } of session) {
      const sh = command.replace(/^node /, `"${process.execPath}" `).replace(/\bnpx gradsync\b/g, gradsync);
      const r = spawnSync('sh', ['-c', sh], { cwd: dir, encoding: 'utf8', timeout: 100_000 });
      assert.equal(r.status, 0, `${command}\n${r.stderr}`);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), output, `what \`${command}\` prints`);
    }
    assert.equal(fs.readdirSync(path.join(dir, 'runs')).length, 1, 'one run folder, in the folder the example ran in');
  });
});
