import assert from 'node:assert/strict';
import fc from 'fast-check';
import { combineToRoot, nodeKey, ReductionTree } from '../../src/parallel/tree';
import { everyoneWorks, planRanges } from '../../src/parallel/planner';

/** Float32 leaf values chosen so that the order of additions matters. */
function leafValues(n: number, seed: number): Float32Array {
  const v = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = (s / 2 ** 32 - 0.5) * 10 ** ((s % 7) - 3);
  }
  return v;
}

/** The value of a node computed by whoever holds it: recursively, in tree order. */
function nodeValue(tree: ReductionTree, leaves: Float32Array, n: { h: number; i: number }): Float32Array {
  if (n.h === 0) return Float32Array.of(leaves[n.i]!);
  const kids = tree.children(n);
  const left = nodeValue(tree, leaves, kids[0]!);
  if (kids.length === 2) left[0] = left[0]! + nodeValue(tree, leaves, kids[1]!)[0]!;
  return left;
}

describe('ReductionTree', () => {
  it('has height ⌈log₂ L⌉ and a root that covers every leaf', () => {
    for (const [L, H] of [
      [1, 0],
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 3],
      [1024, 10],
      [1025, 11],
    ]) {
      const t = new ReductionTree(L!);
      assert.equal(t.height, H);
      assert.deepEqual(t.range(t.root()), [0, L]);
    }
  });

  it('covers a range with the fewest aligned nodes, left to right', () => {
    const t = new ReductionTree(8);
    assert.deepEqual(t.cover(0, 8).map(nodeKey), ['3:0']);
    assert.deepEqual(t.cover(1, 7).map(nodeKey), ['0:1', '1:1', '1:2', '0:6']);
    assert.deepEqual(t.cover(3, 3), []);
    const r = new ReductionTree(5); // the right edge is clipped: node 2:1 covers leaf 4 alone
    assert.deepEqual(r.cover(4, 5).map(nodeKey), ['2:1']);
    assert.deepEqual(r.cover(0, 5).map(nodeKey), ['3:0']);
  });

  it('rejects ranges outside the tree with a RangeError naming them', () => {
    assert.throws(() => new ReductionTree(4).cover(2, 5), { name: 'RangeError', message: /cover: \[2, 5\) is not a range of 4 leaves/ });
    assert.throws(() => new ReductionTree(0), { name: 'RangeError' });
  });

  it('property: the canonical covers of any split tile the range exactly', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 300 }), fc.array(fc.nat(), { maxLength: 8 }), (L, cuts) => {
        const t = new ReductionTree(L);
        const points = [0, ...cuts.map((c) => c % (L + 1)).sort((a, b) => a - b), L];
        for (let k = 0; k + 1 < points.length; k++) {
          let at = points[k]!;
          for (const n of t.cover(points[k]!, points[k + 1]!)) {
            const [lo, hi] = t.range(n);
            assert.equal(lo, at);
            at = hi;
          }
          assert.equal(at, points[k + 1]);
        }
      }),
    );
  });

  it('property: combining the covers of any split equals the one-range result bit for bit', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 500 }),
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer(),
        fc.array(fc.double({ min: 0.05, max: 20, noNaN: true }), { minLength: 9, maxLength: 9 }),
        (batch, micro, executors, seed, speeds) => {
          const L = Math.ceil(batch / micro);
          const t = new ReductionTree(L);
          const leaves = leafValues(L, seed);
          const whole = nodeValue(t, leaves, t.root())[0]!;
          const plan = planRanges(
            L,
            Array.from({ length: executors }, (_, i) => ({ id: `e${i}`, speed: speeds[i]! })),
          );
          const have = new Map<string, Float32Array>();
          // executors finish in reverse order: arrival order must not matter
          for (const p of plan.reverse()) for (const n of t.cover(p.lo, p.hi)) have.set(nodeKey(n), nodeValue(t, leaves, n));
          const root = combineToRoot(
            t,
            (n) => have.get(nodeKey(n)),
            (a, b) => {
              a[0] = a[0]! + b[0]!;
            },
          );
          assert.ok(Object.is(root[0], whole), `split of ${L} leaves over ${executors} executors: ${root[0]} ≠ ${whole}`);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('a naive left-to-right sum differs from the tree sum for some data (the order is real)', () => {
    const t = new ReductionTree(64);
    let differs = false;
    for (let seed = 0; seed < 20 && !differs; seed++) {
      const leaves = leafValues(64, seed);
      let s = new Float32Array(1);
      for (const v of leaves) s = Float32Array.of(s[0]! + v);
      differs = s[0] !== nodeValue(t, leaves, t.root())[0];
    }
    assert.ok(differs);
  });
});

describe('planRanges', () => {
  it('gives contiguous ranges proportional to speed that cover every leaf', () => {
    assert.deepEqual(
      planRanges(10, [
        { id: 'a', speed: 1 },
        { id: 'b', speed: 1 },
      ]).map((p) => [p.lo, p.hi]),
      [
        [0, 5],
        [5, 10],
      ],
    );
    assert.deepEqual(
      planRanges(10, [
        { id: 'a', speed: 3 },
        { id: 'b', speed: 1 },
      ]).map((p) => [p.lo, p.hi]),
      [
        [0, 8],
        [8, 10],
      ],
    );
    assert.deepEqual(
      planRanges(2, [
        { id: 'a', speed: 1 },
        { id: 'b', speed: 1 },
        { id: 'c', speed: 1 },
      ])
        .map((p) => p.hi - p.lo)
        .reduce((a, b) => a + b),
      2,
    );
  });

  it("moves a remote node's boundary (within a quarter of its share) to where its range is the fewest tree nodes; local boundaries stay", () => {
    const speeds = [0.69, 0.31];
    // ideal boundary 22.08: a remote [22, 32) would be 2 nodes (22–24, 24–32) on the wire; [24, 32) is 1
    assert.deepEqual(
      planRanges(32, [
        { id: 'main', speed: speeds[0]! },
        { id: 'pool-1', speed: speeds[1]! },
      ]).map((p) => [p.lo, p.hi]),
      [
        [0, 22],
        [22, 32],
      ],
    );
    assert.deepEqual(
      planRanges(32, [
        { id: 'main', speed: speeds[0]! },
        { id: 'remote-w1', speed: speeds[1]! },
      ]).map((p) => [p.lo, p.hi]),
      [
        [0, 24],
        [24, 32],
      ],
    );
  });

  it('property: with remote executors the ranges still tile every leaf, and no remote range has more nodes than unnudged', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.array(fc.record({ remote: fc.boolean(), speed: fc.double({ min: 0.01, max: 10, noNaN: true }) }), {
          minLength: 1,
          maxLength: 6,
        }),
        (L, ex) => {
          const tree = new ReductionTree(L);
          const nodes = (lo: number, hi: number): number => (hi > lo ? tree.cover(lo, hi).length : 0);
          const plan = planRanges(
            L,
            ex.map((e, i) => ({ id: `${e.remote ? 'remote-' : 'pool-'}${i}`, speed: e.speed })),
          );
          const flat = planRanges(
            L,
            ex.map((e, i) => ({ id: `pool-${i}`, speed: e.speed })),
          );
          assert.equal(plan[0]!.lo, 0);
          assert.equal(plan[plan.length - 1]!.hi, L);
          plan.forEach((p, i) => {
            assert.ok(p.lo <= p.hi);
            if (i > 0) assert.equal(p.lo, plan[i - 1]!.hi);
          });
          const remoteNodes = (pl: typeof plan): number => pl.reduce((s, p, i) => s + (ex[i]!.remote ? nodes(p.lo, p.hi) : 0), 0);
          assert.ok(remoteNodes(plan) <= remoteNodes(flat), `remote nodes ${remoteNodes(plan)} > ${remoteNodes(flat)}`);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('everyoneWorks', () => {
  it('gives an executor with no leaves one from the largest share, keeping the ranges contiguous and covering', () => {
    const plan = planRanges(8, [
      { id: 'a', speed: 0.01 },
      { id: 'b', speed: 0.01 },
      { id: 'c', speed: 10 },
    ]);
    assert.deepEqual(
      plan.map((p) => [p.lo, p.hi]),
      [
        [0, 0],
        [0, 0],
        [0, 8],
      ],
    );
    assert.deepEqual(
      everyoneWorks(plan).map((p) => [p.id, p.lo, p.hi]),
      [
        ['a', 0, 1],
        ['b', 1, 2],
        ['c', 2, 8],
      ],
    );
  });

  it('leaves a plan alone when every executor has work, or when there are fewer leaves than executors', () => {
    const plan = planRanges(10, [
      { id: 'a', speed: 3 },
      { id: 'b', speed: 1 },
    ]);
    assert.deepEqual(everyoneWorks(plan), plan);
    const few = planRanges(2, [
      { id: 'a', speed: 1 },
      { id: 'b', speed: 1 },
      { id: 'c', speed: 1 },
    ]);
    assert.deepEqual(everyoneWorks(few), few);
  });
});
