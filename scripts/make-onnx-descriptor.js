#!/usr/bin/env node
// make-onnx-descriptor.js — writes src/export/onnx-proto.json, the protobufjs JSON descriptor of
// ONNX's schema, from the vendored third_party/onnx/onnx.proto (Apache-2.0, see its LICENSE).
// The descriptor is committed, so nothing parses .proto text at run time; test/export/onnx.test.ts
// checks it is what this script makes of the vendored file. Run it after updating onnx.proto:
//   node scripts/make-onnx-descriptor.js
'use strict';

const fs = require('node:fs');
const path = require('node:path');
const protobuf = require('protobufjs');

const root = path.resolve(__dirname, '..');

/** The descriptor of the vendored schema, field names as in the .proto (snake_case). */
function descriptor() {
  const text = fs.readFileSync(path.join(root, 'third_party', 'onnx', 'onnx.proto'), 'utf8');
  return protobuf.parse(text, { keepCase: true }).root.toJSON();
}

module.exports = { descriptor };

if (require.main === module) {
  const out = path.join(root, 'src', 'export', 'onnx-proto.json');
  fs.writeFileSync(out, `${JSON.stringify(descriptor(), null, 2)}\n`);
  console.log(`wrote ${path.relative(root, out)}`);
}
