/**
 * The ONNX exporter, checked by independent readers: onnxruntime-node runs the exported file and
 * must give `gradsync predict`'s outputs; protobufjs decodes it against ONNX's schema to check
 * the opset, the names and the symbolic batch dimension.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { layoutOf } from '../../src/model/params';
import { onnxSchema, toOnnx } from '../../src/export/onnx';
import { readCheckpoint } from '../../src/train/checkpoint';
import { assertClose } from '../helpers/close';
import { repoRoot } from '../helpers/paths';
import { cli, EXPORT_CASES, predictOutputs, rowsFor, trainCase } from '../helpers/export-run';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { descriptor } = require(path.join(repoRoot(), 'scripts', 'make-onnx-descriptor.js')) as { descriptor: () => unknown };

/** Float tolerances of an independent runtime (its own tanh, exp, GEMM order) against gradsync's kernels. */
const TOL = { float32: { rtol: 1e-5, atol: 1e-6 }, float64: { rtol: 1e-10, atol: 1e-12 } } as const;

interface Decoded {
  ir_version: number;
  opset_import: { domain?: string; version: number }[];
  producer_name: string;
  graph: {
    node: {
      op_type: string;
      input: string[];
      output: string[];
      attribute?: { name: string; type?: number; i: number; ints?: number[] }[];
    }[];
    initializer: { name: string; dims: number[]; data_type: number }[];
    input: { name: string; type: { tensor_type: { elem_type: number; shape: { dim: { dim_param?: string; dim_value?: number }[] } } } }[];
    output: { name: string; type: { tensor_type: { elem_type: number; shape: { dim: { dim_param?: string; dim_value?: number }[] } } } }[];
  };
  metadata_props: { key: string; value: string }[];
}

function decode(bytes: Uint8Array): Decoded {
  const M = onnxSchema().lookupType('onnx.ModelProto');
  return M.toObject(M.decode(bytes), { longs: Number, defaults: false, arrays: true }) as unknown as Decoded;
}

describe('export: ONNX', function () {
  this.timeout(120_000);

  it('the committed descriptor is what scripts/make-onnx-descriptor.js makes of the vendored onnx.proto', () => {
    const committed = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'src', 'export', 'onnx-proto.json'), 'utf8')) as unknown;
    // null-prototype objects (protobufjs enum values) compared as plain JSON
    assert.deepEqual(committed, JSON.parse(JSON.stringify(descriptor())));
    const proto = fs.readFileSync(path.join(repoRoot(), 'third_party', 'onnx', 'onnx.proto'), 'utf8');
    assert.match(proto, /SPDX-License-Identifier: Apache-2\.0/);
  });

  // onnxruntime's CPU provider has no float64 Conv or pooling kernels: that file is valid ONNX
  // (DOUBLE) which it cannot run; its layers are checked against PyTorch (torch.test.ts)
  const runnable = EXPORT_CASES.filter((c) => !(c.config.dtype === 'float64' && JSON.stringify(c.config).includes('conv2d')));
  for (const c of runnable) {
    it(`${c.name}: onnxruntime gives predict's outputs for the exported file (gradsync export --format onnx)`, async () => {
      const { dir, checkpoint } = trainCase(c);
      const out = path.join(dir, 'model.onnx');
      const r = cli(['export', '--checkpoint', path.join(dir, 'run'), '--format', 'onnx', '--out', out, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const summary = JSON.parse(r.stdout) as { opset: number; input: { name: string; shape: unknown[] }; dtype: string };
      assert.equal(summary.opset, 17);
      assert.deepEqual(summary.input, { name: 'input', shape: ['batch', c.inputs] });
      const { rows, file } = rowsFor(c, 25, dir);
      const expected = predictOutputs(checkpoint, file);
      const dtype = c.config.dtype as 'float32' | 'float64';
      const session = await ort.InferenceSession.create(fs.readFileSync(out));
      assert.deepEqual(session.inputNames, ['input']);
      assert.deepEqual(session.outputNames, ['output']);
      // the batch dimension is symbolic: one call with every row, and one with a single row
      for (const batch of [rows, rows.slice(3, 4)]) {
        const flat = batch.flat();
        const x = dtype === 'float32' ? Float32Array.from(flat) : Float64Array.from(flat);
        const res = await session.run({ input: new ort.Tensor(dtype, x, [batch.length, c.inputs]) });
        const y = res.output!;
        assert.equal(y.type, dtype);
        const width = expected[0]!.length;
        assert.deepEqual(y.dims, [batch.length, width]);
        const want = (batch === rows ? expected : expected.slice(3, 4)).flat();
        assertClose(Array.from(y.data as Float32Array | Float64Array), want, { ...TOL[dtype], label: `${c.name} onnxruntime vs predict` });
      }
      await session.release();
    });
  }

  it('the file is an opset-17 ModelProto: Gemm with transB=1 per layer, the activations, state-dict initializer names, batch dimension "batch"', () => {
    const { checkpoint } = trainCase(EXPORT_CASES[1]!);
    const ck = readCheckpoint(checkpoint);
    const spec = ck.header.spec;
    const m = decode(toOnnx(spec, layoutOf(spec), ck.params, { inputScale: 1 / 16 }));
    assert.equal(m.ir_version, 8);
    assert.deepEqual(m.opset_import, [{ domain: '', version: 17 }]);
    assert.equal(m.producer_name, 'gradsync');
    assert.deepEqual(
      m.graph.node.map((n) => n.op_type),
      ['Mul', 'Gemm', 'Gemm', 'Relu', 'Gemm', 'Sigmoid', 'Gemm', 'Tanh', 'Gemm', 'Softmax'],
    );
    for (const n of m.graph.node.filter((n) => n.op_type === 'Gemm'))
      assert.deepEqual(
        n.attribute?.map((a) => [a.name, a.i]),
        [['transB', 1]],
      );
    assert.deepEqual(
      m.graph.node[9]!.attribute?.map((a) => [a.name, a.i]),
      [['axis', 1]],
    );
    assert.deepEqual(
      m.graph.initializer.map((t) => [t.name, t.dims, t.data_type]),
      [
        ['input_scale', [], 11],
        ['0.weight', [16, 64], 11],
        ['0.bias', [16], 11],
        ['1.weight', [16, 16], 11],
        ['1.bias', [16], 11],
        ['3.weight', [12, 16], 11],
        ['3.bias', [12], 11],
        ['5.weight', [12, 12], 11],
        ['5.bias', [12], 11],
        ['7.weight', [10, 12], 11],
        ['7.bias', [10], 11],
      ],
    );
    const dims = (v: Decoded['graph']['input'][0]): unknown => v.type.tensor_type.shape.dim.map((d) => d.dim_param ?? d.dim_value);
    assert.deepEqual(dims(m.graph.input[0]!), ['batch', 64]);
    assert.deepEqual(dims(m.graph.output[0]!), ['batch', 10]);
    assert.equal(m.graph.node[m.graph.node.length - 1]!.output[0], 'output');
    assert.equal(m.metadata_props.find((p) => p.key === 'gradsync.input_scale')?.value, '0.0625');
  });

  it('a CNN: Reshape to NCHW, Conv with its strides and pads, MaxPool, AveragePool, Flatten, no node for dropout; module indices as nn.Sequential counts them', () => {
    const { checkpoint } = trainCase(EXPORT_CASES[3]!);
    const ck = readCheckpoint(checkpoint);
    const spec = ck.header.spec;
    const m = decode(toOnnx(spec, layoutOf(spec), ck.params, { inputScale: 1 / 16 }));
    assert.deepEqual(
      m.graph.node.map((n) => n.op_type),
      ['Mul', 'Reshape', 'Conv', 'Tanh', 'MaxPool', 'Conv', 'Relu', 'AveragePool', 'Flatten', 'Gemm', 'Softmax'],
    );
    const attrs = (op: string): unknown =>
      m.graph.node.find((n) => n.op_type === op)!.attribute?.map((a) => [a.name, a.type === 7 ? a.ints : a.i]);
    assert.deepEqual(attrs('Conv'), [
      ['kernel_shape', [3, 3]],
      ['strides', [2, 2]],
      ['pads', [1, 1, 1, 1]],
    ]);
    assert.deepEqual(attrs('MaxPool'), [
      ['kernel_shape', [2, 2]],
      ['strides', [2, 2]],
    ]);
    assert.deepEqual(attrs('Flatten'), [['axis', 1]]);
    // Sequential(Conv2d 0, Tanh 1, MaxPool2d 2, Conv2d 3, ReLU 4, AvgPool2d 5, Flatten 6, Dropout 7, Linear 8, Softmax 9)
    assert.deepEqual(
      m.graph.initializer.map((t) => [t.name, t.dims]),
      [
        ['input_scale', []],
        ['input_shape', [4]],
        ['0.weight', [6, 1, 3, 3]],
        ['0.bias', [6]],
        ['3.weight', [4, 6, 1, 1]],
        ['3.bias', [4]],
        ['8.weight', [10, 4]],
        ['8.bias', [10]],
      ],
    );
  });

  it('export refuses an unknown --format (exit 2, GS_ERR_USAGE) and writes nothing', () => {
    const { dir } = trainCase(EXPORT_CASES[2]!);
    const out = path.join(dir, 'model.tflite');
    const r = cli(['export', '--checkpoint', path.join(dir, 'run'), '--format', 'tflite', '--out', out]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /GS_ERR_USAGE: --format must be one of onnx, safetensors, got "tflite"/);
    assert.equal(fs.existsSync(out), false);
  });
});
