#!/usr/bin/env node
'use strict';
// npm test: type-check and build, lint, check the formatting (prettier; `npm run format` fixes it),
// then every mocha test (unit and integration) in one run.
// The last line printed is mocha's "N passed, N failed" from scripts/mocha-reporter.js.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) {
    process.stdout.write(`\n${cmd === bin('mocha') ? '' : `${path.basename(cmd)} failed; `}0 passed, 1 failed\n`);
    process.exit(r.status || 1);
  }
}
run(bin('tsc'), ['-p', 'tsconfig.json']);
run(bin('eslint'), ['.']);
run(bin('prettier'), ['--check', '--log-level', 'warn', '.']);
const extra = process.argv.slice(2);
const r = spawnSync(bin('mocha'), extra, { cwd: root, stdio: 'inherit' });
process.exit(r.status === null ? 1 : r.status);
