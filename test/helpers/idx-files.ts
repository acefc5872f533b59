/** idx-files.ts — small IDX files written by tests: the images and labels layouts of MNIST. */

/** An IDX images file: magic 00 00 08 03, dims n, rows, cols (big-endian), then pixels. */
export function idxImages(n: number, rows: number, cols: number, pixel: (i: number) => number): Buffer {
  const b = Buffer.alloc(16 + n * rows * cols);
  b.writeUInt32BE(0x00000803, 0);
  b.writeUInt32BE(n, 4);
  b.writeUInt32BE(rows, 8);
  b.writeUInt32BE(cols, 12);
  for (let i = 0; i < n * rows * cols; i++) b[16 + i] = pixel(i) & 0xff;
  return b;
}

/** An IDX labels file: magic 00 00 08 01, dim n, then one byte per label. */
export function idxLabels(labels: number[]): Buffer {
  const b = Buffer.alloc(8 + labels.length);
  b.writeUInt32BE(0x00000801, 0);
  b.writeUInt32BE(labels.length, 4);
  labels.forEach((v, i) => (b[8 + i] = v));
  return b;
}
