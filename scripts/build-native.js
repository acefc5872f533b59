#!/usr/bin/env node
// build-native.js — the npm "install" hook: compiles the native kernels (binding.gyp, native/)
// with this machine's C++ compiler and Node headers, using npm's bundled node-gyp.
//
// It never fails the install and never downloads anything: when the headers, the compiler,
// make, python3 or node-gyp are missing, or the build fails, it prints one line and exits 0,
// and gradsync falls back to its portable kernels at run time (src/tensor/select.ts).
// Set GRADSYNC_SKIP_NATIVE=1 to skip the build. Full compiler output: build/native-build.log.
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const { spawnSync } = require('node:child_process');

const root = path.resolve(__dirname, '..');
const say = (msg) => console.log(`gradsync: ${msg}`);
const skip = (why) => {
  say(`native kernels not built (${why}); gradsync will use its portable kernels`);
  process.exit(0);
};

function works(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'ignore', timeout: 20000 });
  return r.status === 0;
}

/** A folder with include/node/node_api.h: npm's configured nodedir, else the running node's prefix. */
function nodeDir() {
  const candidates = [process.env.npm_config_nodedir, path.resolve(path.dirname(process.execPath), '..')];
  for (const dir of candidates) {
    if (dir && fs.existsSync(path.join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return null;
}

/** npm's bundled node-gyp (npm tells lifecycle scripts where it is), else the copy next to npm. */
function nodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    path.resolve(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const file of candidates) if (file && fs.existsSync(file)) return file;
  return null;
}

function main() {
  if (process.env.GRADSYNC_SKIP_NATIVE) skip('GRADSYNC_SKIP_NATIVE is set');
  const dir = nodeDir();
  if (!dir) skip('no local Node headers (include/node/node_api.h)');
  const cxx = process.env.CXX || 'c++';
  if (!works(cxx, ['--version'])) skip(`no C++ compiler (${cxx})`);
  if (!works('make', ['--version'])) skip('no make');
  if (!works('python3', ['--version'])) skip('no python3 for node-gyp');
  const gyp = nodeGyp();
  if (!gyp) skip('node-gyp not found');

  fs.mkdirSync(path.join(root, 'build'), { recursive: true });
  const logFile = path.join(root, 'build', 'native-build.log');
  // --nodedir makes node-gyp use these headers; it downloads only when it has none.
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${dir}`, '--jobs=max'], {
    cwd: root,
    encoding: 'utf8',
    timeout: 600000,
    env: { ...process.env, npm_config_nodedir: dir },
  });
  fs.writeFileSync(path.join(root, 'build', 'native-build.log'), `${r.stdout ?? ''}${r.stderr ?? ''}`);
  if (r.status !== 0) skip(`compile failed, see ${path.relative(process.cwd(), logFile)}`);

  // Load it once in a child process, so that even a crashing addon cannot break the install.
  const addon = path.join(root, 'build', 'Release', 'gradsync_kernels.node');
  const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(require(${JSON.stringify(addon)}).isas().join(', '))`], {
    encoding: 'utf8',
    timeout: 20000,
  });
  if (probe.status !== 0) {
    fs.rmSync(addon, { force: true });
    skip('the built addon does not load');
  }
  // the thread-placement addon (src/parallel/affinity.ts) is optional: without it threads float
  const threads = path.join(root, 'build', 'Release', 'gradsync_threads.node');
  const probeThreads = spawnSync(
    process.execPath,
    ['-e', `process.stdout.write(String(require(${JSON.stringify(threads)}).allowed() !== null))`],
    {
      encoding: 'utf8',
      timeout: 20000,
    },
  );
  const pinning = probeThreads.status === 0 && probeThreads.stdout === 'true';
  if (probeThreads.status !== 0) fs.rmSync(threads, { force: true });
  say(`native kernels built (${probe.stdout}); thread pinning ${pinning ? 'available' : 'not available here'}`);
}

main();
