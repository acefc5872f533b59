#!/usr/bin/env node
'use strict';
// The gradsync command: the compiled CLI (npm ci builds dist/ through the prepare script).
let cli;
try {
  cli = require('../dist/src/cli/main.js');
} catch (e) {
  process.stderr.write(
    `gradsync: the compiled code is missing (${e.message}).\nhint: run \`npm ci\` (or \`npm run build\`) in the gradsync folder\n`,
  );
  process.exit(1);
}
cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
