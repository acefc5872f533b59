#!/usr/bin/env node
// build-wasm.js — part of `npm run build` and the npm "prepare" hook (so `npm ci` runs it):
// assembles the hand-written WebAssembly SIMD kernels (wasm/kernels.wat) with the `wabt` npm
// package (pure JS and wasm; it downloads nothing) into dist/wasm/kernels.wasm.
//
// It never fails the build: when wabt is missing (an install without devDependencies) or the
// text does not assemble, it prints one line, writes the reason to dist/wasm/kernels.wasm.error
// and exits 0; gradsync then says why at run time and falls back (src/tensor/select.ts).
'use strict';

const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const src = path.join(root, 'wasm', 'kernels.wat');
const outDir = path.join(root, 'dist', 'wasm');
const out = path.join(outDir, 'kernels.wasm');
const errFile = `${out}.error`;
const say = (msg) => console.log(`gradsync: ${msg}`);

async function main() {
  fs.mkdirSync(outDir, { recursive: true });
  fs.rmSync(out, { force: true });
  fs.rmSync(errFile, { force: true });
  let reason = null;
  try {
    let wabtFactory;
    try {
      wabtFactory = require('wabt');
    } catch {
      throw new Error('the wabt package is not installed (a devDependency)');
    }
    const wabt = await wabtFactory();
    const text = fs.readFileSync(src, 'utf8');
    const mod = wabt.parseWat('kernels.wat', text, { simd: true, bulk_memory: true });
    try {
      mod.resolveNames();
      mod.validate();
      const { buffer } = mod.toBinary({ canonicalize_lebs: true });
      // write then rename, so a reader never sees half a module
      fs.writeFileSync(`${out}.tmp`, buffer);
      fs.renameSync(`${out}.tmp`, out);
    } finally {
      mod.destroy();
    }
  } catch (e) {
    reason = String(e && e.message ? e.message : e)
      .trim()
      .split('\n')
      .slice(0, 3)
      .join(' / ');
  }
  if (reason !== null) {
    fs.writeFileSync(errFile, `${reason}\n`);
    say(`WebAssembly SIMD kernels not assembled (${reason}); gradsync will use its other kernels`);
    return;
  }
  say(`WebAssembly SIMD kernels assembled (${path.relative(root, out)}, ${fs.statSync(out).size} bytes)`);
}

main();
