/** csv.test.ts — loadCsv: format, options, content hash, dtypes, shared memory, and every data error. */
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { loadCsv, type CsvOptions } from '../../src/data/csv';
import { assertDataError } from './data-error';

describe('data/csv loadCsv', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gradsync-csv-'));
  });
  after(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });
  /** Writes `content` to a new file in the temp folder and returns its path. */
  let seq = 0;
  function write(content: string | Buffer, name = `f${++seq}.csv`): string {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  }
  const f64: CsvOptions = { dtype: 'float64' };

  describe('format', () => {
    it('reads features and a last-column class label into x and one-hot y, with classes = max label + 1', () => {
      const ds = loadCsv(write('1,2,0\n3,4,2\n5,6,1\n', 'three.csv'), f64);
      assert.equal(ds.name, 'three.csv');
      assert.equal(ds.n, 3);
      assert.equal(ds.inputs, 2);
      assert.equal(ds.classes, 3);
      assert.equal(ds.outputs, 3);
      assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4, 5, 6]);
      assert.deepEqual(Array.from(ds.y), [1, 0, 0, 0, 0, 1, 0, 1, 0]);
      assert.deepEqual(Array.from(ds.labels!), [0, 2, 1]);
      assert.ok(ds.x instanceof Float64Array && ds.y instanceof Float64Array);
    });
    it('reads the label from the first column with label "first"', () => {
      const ds = loadCsv(write('1,7,8\n0,9,10\n'), { ...f64, label: 'first' });
      assert.deepEqual(Array.from(ds.x), [7, 8, 9, 10]);
      assert.deepEqual(Array.from(ds.labels!), [1, 0]);
      assert.deepEqual(Array.from(ds.y), [0, 1, 1, 0]);
    });
    it('widens y to an explicit classes option', () => {
      const ds = loadCsv(write('1,0\n2,1\n'), { ...f64, classes: 4 });
      assert.equal(ds.classes, 4);
      assert.equal(ds.outputs, 4);
      assert.deepEqual(Array.from(ds.y), [1, 0, 0, 0, 0, 1, 0, 0]);
    });
    it('reads the last `targets` columns as real-valued regression targets with label "none", and scales only the features', () => {
      const ds = loadCsv(write('1,2,0.5,-1.5\n3,4,2.25,7\n'), { ...f64, label: 'none', targets: 2, scale: 0.5 });
      assert.equal(ds.inputs, 2);
      assert.equal(ds.outputs, 2);
      assert.equal(ds.labels, null);
      assert.equal(ds.classes, null);
      assert.deepEqual(Array.from(ds.x), [0.5, 1, 1.5, 2]);
      assert.deepEqual(Array.from(ds.y), [0.5, -1.5, 2.25, 7]);
    });
    it('takes one regression target by default with label "none"', () => {
      const ds = loadCsv(write('0.1,0.2\n0.3,0.6\n'), { ...f64, label: 'none' });
      assert.equal(ds.inputs, 1);
      assert.deepEqual(Array.from(ds.y), [0.2, 0.6]);
    });
    it('multiplies every feature by scale', () => {
      const ds = loadCsv(write('16,8,1\n4,0,0\n'), { ...f64, scale: 1 / 16 });
      assert.deepEqual(Array.from(ds.x), [1, 0.5, 0.25, 0]);
    });
    it('auto-detects a header line when any of its fields is not a number', () => {
      const ds = loadCsv(write('a,2,label\n1,2,0\n3,4,1\n'), f64);
      assert.equal(ds.n, 2);
      assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4]);
    });
    it('takes an all-number first line for data with header "auto"', () => {
      assert.equal(loadCsv(write('1,2,0\n3,4,1\n'), f64).n, 2);
    });
    it('skips the first line with header: true even when it is numeric', () => {
      const ds = loadCsv(write('9,9,9\n1,2,0\n'), { ...f64, header: true });
      assert.equal(ds.n, 1);
      assert.deepEqual(Array.from(ds.x), [1, 2]);
    });
    it('treats the first line as data with header: false, so a text header is an error on line 1', () => {
      assertDataError(
        () => loadCsv(write('x1,x2,y\n1,2,0\n', 'hdr.csv'), { ...f64, header: false }),
        'hdr.csv',
        'line 1, column 1',
        '"x1"',
      );
    });
    it('accepts CRLF line ends, a UTF-8 byte-order mark, padded numbers and blank trailing lines', () => {
      const ds = loadCsv(write('\ufeffp,q,c\r\n 1 ,2e0,0\r\n3,4.5,1\r\n\r\n\n  \n'), f64);
      assert.equal(ds.n, 2);
      assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4.5]);
    });
    it('accepts a last line without a line break', () => {
      assert.equal(loadCsv(write('1,0\n2,1'), f64).n, 2);
    });
    it('reads gzip by its magic bytes, not by its name', () => {
      const text = 'h1,h2,y\n1,2,0\n3,4,1\n';
      const plain = loadCsv(write(text, 'plain-named.csv.gz'), f64);
      const gz = loadCsv(write(zlib.gzipSync(text), 'gz-named.csv'), f64);
      assert.deepEqual(Array.from(gz.x), Array.from(plain.x));
      assert.deepEqual(Array.from(gz.y), Array.from(plain.y));
    });
  });

  describe('class names (issue 25)', () => {
    it('maps a label column of names to indices in first-seen order, under a detected header', () => {
      const ds = loadCsv(write('sl,sw,species\n5.1,3.5,setosa\n6.3,3.3,virginica\n5.0,3.6,setosa\n5.7,2.8,versicolor\n'), f64);
      assert.equal(ds.n, 4);
      assert.deepEqual(ds.labelNames, ['setosa', 'virginica', 'versicolor']);
      assert.deepEqual(Array.from(ds.labels!), [0, 1, 0, 2]);
      assert.equal(ds.classes, 3);
      assert.deepEqual(Array.from(ds.y.subarray(0, 3)), [1, 0, 0]);
    });
    it('takes a headerless first line whose only non-number is a class name for data', () => {
      const ds = loadCsv(write('5.1,3.5,setosa\n6.3,3.3,virginica\n'), f64);
      assert.equal(ds.n, 2);
      assert.deepEqual(ds.labelNames, ['setosa', 'virginica']);
    });
    it('takes a first line whose only non-number is the label for a header when every later label is a number', () => {
      const ds = loadCsv(write('1,2,label\n1,2,0\n3,4,1\n'), f64);
      assert.equal(ds.n, 2);
      assert.equal(ds.labelNames, undefined);
      assert.deepEqual(Array.from(ds.labels!), [0, 1]);
      const first = loadCsv(write('label,1,2\n1,7,8\n0,9,10\n'), { ...f64, label: 'first' });
      assert.equal(first.n, 2);
      assert.deepEqual(Array.from(first.labels!), [1, 0]);
    });
    it('reads names from the first column with label "first", trimming the spaces around them', () => {
      const ds = loadCsv(write(' cat ,1,2\ndog,3,4\ncat,5,6\n'), { ...f64, label: 'first' });
      assert.deepEqual(ds.labelNames, ['cat', 'dog']);
      assert.deepEqual(Array.from(ds.labels!), [0, 1, 0]);
      assert.deepEqual(Array.from(ds.x), [1, 2, 3, 4, 5, 6]);
    });
    it('treats a column that mixes numbers and names as names throughout ("1" is a name then)', () => {
      const ds = loadCsv(write('1,2,1\n3,4,b\n5,6,1\n7,8,0\n'), f64);
      assert.deepEqual(ds.labelNames, ['1', 'b', '0']);
      assert.deepEqual(Array.from(ds.labels!), [0, 1, 0, 2]);
    });
    it('keeps the header choice forced by header: true and header: false', () => {
      // an all-number first line skipped, and a first line whose label is a name kept as data
      assert.equal(loadCsv(write('9,9,a\n1,2,b\n'), { ...f64, header: true }).n, 1);
      const asData = loadCsv(write('1,2,label\n1,2,0\n3,4,1\n'), { ...f64, header: false });
      assert.equal(asData.n, 3);
      assert.deepEqual(asData.labelNames, ['label', '0', '1']);
    });
    it('names the line and column of a class name beyond classes, and of an empty label', () => {
      assertDataError(
        () => loadCsv(write('x,y\n1,a\n2,b\n3,c\n', 'three.csv'), { ...f64, classes: 2 }),
        'three.csv',
        'line 4, column 2',
        'label "c" is class name number 3, but classes is 2',
      );
      assertDataError(() => loadCsv(write('1,a\n2,\n', 'empty.csv'), f64), 'empty.csv', 'line 2, column 2', 'the label is empty');
    });
  });

  describe('content hash', () => {
    it('is sha256 of the bytes on disk, the separator and the resolved options JSON, as documented', () => {
      const bytes = Buffer.from('1,2,0\n3,4,1\n');
      const ds = loadCsv(write(bytes), { ...f64, scale: 0.5 });
      const expected = crypto
        .createHash('sha256')
        .update(bytes)
        .update('\0gradsync-data-v1\0')
        .update(JSON.stringify({ format: 'csv', header: false, label: 'last', targets: null, classes: 2, scale: 0.5 }))
        .digest('hex');
      assert.equal(ds.sha256, expected);
    });
    it('is the same for two loads of the same file with the same options, whatever the dtype or sharing', () => {
      const file = write('1,2,0\n3,4,1\n');
      const a = loadCsv(file, f64);
      assert.equal(loadCsv(file, f64).sha256, a.sha256);
      assert.equal(loadCsv(file, { dtype: 'float32', shared: true }).sha256, a.sha256);
    });
    it('changes with the options that change the content (scale, label column, classes, header)', () => {
      const file = write('1,2,0\n3,4,1\n');
      const base = loadCsv(file, f64).sha256;
      const others = [
        loadCsv(file, { ...f64, scale: 2 }),
        loadCsv(file, { ...f64, label: 'first' }),
        loadCsv(file, { ...f64, label: 'none' }),
        loadCsv(file, { ...f64, classes: 3 }),
        loadCsv(file, { ...f64, header: true }),
      ].map((d) => d.sha256);
      assert.equal(new Set([base, ...others]).size, 6);
    });
    it('differs between the gzip and the plain file of the same rows (it hashes the bytes on disk)', () => {
      const text = '1,2,0\n3,4,1\n';
      assert.notEqual(loadCsv(write(text), f64).sha256, loadCsv(write(zlib.gzipSync(text)), f64).sha256);
    });
  });

  describe('dtype and memory', () => {
    it('gives in float32 the float64 values rounded to float32', () => {
      const file = write('0.1,0.2,0\n0.3,1e-7,1\n123456789,3.14159265358979,0\n');
      const a = loadCsv(file, { dtype: 'float64', scale: 1 / 3 });
      const b = loadCsv(file, { dtype: 'float32', scale: 1 / 3 });
      assert.ok(b.x instanceof Float32Array && b.y instanceof Float32Array);
      assert.deepEqual(Array.from(b.x), Array.from(a.x, Math.fround));
      assert.deepEqual(Array.from(b.y), Array.from(a.y, Math.fround));
    });
    it('allocates x, y and labels over SharedArrayBuffer with shared: true, and over ArrayBuffer otherwise', () => {
      const file = write('1,2,0\n3,4,1\n');
      const s = loadCsv(file, { dtype: 'float32', shared: true });
      assert.ok(s.x.buffer instanceof SharedArrayBuffer);
      assert.ok(s.y.buffer instanceof SharedArrayBuffer);
      assert.ok(s.labels!.buffer instanceof SharedArrayBuffer);
      const p = loadCsv(file, { dtype: 'float32' });
      assert.ok(p.x.buffer instanceof ArrayBuffer && !(p.x.buffer instanceof SharedArrayBuffer));
    });
  });

  describe('errors', () => {
    it('names a missing file', () => {
      const missing = path.join(dir, 'nope.csv');
      const e = assertDataError(() => loadCsv(missing, f64), missing, 'not found');
      assert.equal(e.hint, `looked for ${missing}; a config file's data.path and data.dir are resolved from the config file's folder`);
    });
    it("names where a missing relative path was looked for: from the current directory (loadConfigFile has made a config's absolute)", () => {
      const e = assertDataError(() => loadCsv(path.join('no-such-dir', 'nope.csv'), f64), 'not found');
      assert.ok(e.hint?.startsWith(`looked for ${path.resolve('no-such-dir', 'nope.csv')};`), e.hint);
    });
    it('names an empty file (0 bytes)', () => {
      assertDataError(() => loadCsv(write('', 'empty.csv'), f64), 'empty.csv', 'empty');
    });
    it('names a file of blank lines only as empty', () => {
      assertDataError(() => loadCsv(write('\n \r\n\n', 'blank.csv'), f64), 'blank.csv', 'empty');
    });
    it('names a file with a header but no data rows', () => {
      assertDataError(() => loadCsv(write('a,b,c\n', 'hdronly.csv'), f64), 'hdronly.csv', 'line 1', 'no data rows');
    });
    it('names the line and the expected and found counts when a line has too few fields', () => {
      assertDataError(() => loadCsv(write('1,2,0\n3,4,1\n5,6\n', 'short.csv'), f64), 'short.csv', 'line 3', 'expected 3 fields', 'found 2');
    });
    it('names the line and the expected and found counts when a line has too many fields', () => {
      assertDataError(
        () => loadCsv(write('x,y,c\n1,2,0\n3,4,1,9,9\n', 'long.csv'), f64),
        'long.csv',
        'line 3',
        'expected 3 fields',
        'found 5',
      );
    });
    it('names a blank line inside the data', () => {
      assertDataError(() => loadCsv(write('1,2,0\n\n3,4,1\n', 'gap.csv'), f64), 'gap.csv', 'line 2', 'expected 3 fields', 'blank');
    });
    for (const [text, shown] of [
      ['abc', '"abc"'],
      ['1e999', '"1e999"'],
      ['', '""'],
      ['   ', '"   "'],
      ['NaN', '"NaN"'],
      ['Infinity', '"Infinity"'],
    ] as const) {
      it(`names the line, column and text of the non-number field ${JSON.stringify(text)}`, () => {
        assertDataError(
          () => loadCsv(write(`1,2,0\n3,${text},1\n`, 'nan.csv'), f64),
          'nan.csv',
          'line 2, column 2',
          `${shown} is not a number`,
        );
      });
    }
    it('quotes a long non-number field cut to 40 characters', () => {
      const long = 'z'.repeat(100);
      const e = assertDataError(() => loadCsv(write(`1,2,0\n${long},4,1\n`), f64), 'line 2, column 1', `"${'z'.repeat(40)}…"`);
      assert.ok(!e.message.includes('z'.repeat(41)));
    });
    it('names a negative label', () => {
      assertDataError(() => loadCsv(write('1,2,0\n3,4,-1\n', 'neg.csv'), f64), 'neg.csv', 'line 2, column 3', 'label "-1"');
    });
    it('names a non-integer label', () => {
      assertDataError(() => loadCsv(write('1,2,0\n3,4,1.5\n', 'frac.csv'), f64), 'frac.csv', 'line 2, column 3', 'label "1.5"');
    });
    it('names a label ≥ classes, with the line and column', () => {
      assertDataError(
        () => loadCsv(write('1,2,0\n3,4,10\n', 'big.csv'), { ...f64, classes: 10 }),
        'big.csv',
        'line 2, column 3',
        'label 10 is out of range',
        'classes is 10',
      );
    });
    it('names a label column of the first column by its column number', () => {
      assertDataError(
        () => loadCsv(write('2,5,6\n', 'first.csv'), { ...f64, label: 'first', classes: 2 }),
        'first.csv',
        'line 1, column 1',
        'out of range',
      );
    });
    it('names a corrupt gzip file', () => {
      const gz = zlib.gzipSync(Buffer.from('1,2,0\n'.repeat(1000)));
      const bad = Buffer.from(gz);
      for (let i = 12; i < bad.length - 8; i++) bad[i] = 0xff;
      assertDataError(() => loadCsv(write(bad, 'bad.csv.gz'), f64), 'bad.csv.gz', 'corrupt gzip');
      assertDataError(() => loadCsv(write(gz.subarray(0, gz.length - 10), 'cut.csv.gz'), f64), 'cut.csv.gz', 'corrupt gzip', 'ends early');
    });
    it('names a value that does not fit in float32', () => {
      assertDataError(() => loadCsv(write('1e39,0\n', 'huge.csv'), { dtype: 'float32' }), 'huge.csv', 'line 1, column 1', 'float32');
    });
    it('names a file with too few columns for the label', () => {
      assertDataError(() => loadCsv(write('1\n2\n', 'one.csv'), f64), 'one.csv', 'found 1 column', 'need 2');
    });
    it('rejects bad options with a TypeError or RangeError naming the option', () => {
      const file = write('1,0\n');
      assert.throws(() => loadCsv(file, { ...f64, classes: 0 }), { name: 'RangeError', message: /classes/ });
      assert.throws(() => loadCsv(file, { ...f64, targets: 1.5, label: 'none' }), { name: 'RangeError', message: /targets/ });
      assert.throws(() => loadCsv(file, { ...f64, scale: Number.NaN }), { name: 'RangeError', message: /scale/ });
      assert.throws(() => loadCsv(file, { ...f64, label: 'middle' as unknown as 'last' }), { name: 'TypeError', message: /label/ });
      assert.throws(() => loadCsv(file, { dtype: 'int8' as unknown as 'float64' }), { name: 'TypeError', message: /dtype/ });
    });
  });
});
