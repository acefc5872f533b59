/**
 * tree.ts — the fixed binary reduction tree over a batch's micro-batches, and its combine.
 *
 * Leaves 0..L−1 are the micro-batches of one step. Node (h, i) covers leaves
 * [i·2^h, min((i+1)·2^h, L)); the root is (H, 0) with H = ⌈log₂ L⌉. A node's value is
 * left + right, in that order, element by element; a node whose right child would be empty
 * *is* its left child (no addition). Because every executor and the coordinator follow this
 * one definition, the root's bits do not depend on who computed which node, on how many
 * executors there were, or on the order partials arrived in.
 * Not here: what a value is (partial.ts), who computes what (planner.ts).
 */

export interface TreeNode {
  /** Height: 0 for a leaf. */
  h: number;
  /** Index among the nodes of this height. */
  i: number;
}

export function nodeKey(n: TreeNode): string {
  return `${n.h}:${n.i}`;
}

export class ReductionTree {
  readonly leaves: number;
  readonly height: number;

  constructor(leaves: number) {
    if (!(Number.isInteger(leaves) && leaves >= 1)) throw new RangeError(`a reduction tree needs ≥ 1 leaf, got ${leaves}`);
    this.leaves = leaves;
    let h = 0;
    while (2 ** h < leaves) h++;
    this.height = h;
  }

  root(): TreeNode {
    return { h: this.height, i: 0 };
  }

  /** Leaves [lo, hi) a node covers (empty when lo ≥ hi). */
  range(n: TreeNode): [number, number] {
    const lo = n.i * 2 ** n.h;
    return [lo, Math.min(lo + 2 ** n.h, this.leaves)];
  }

  /** Whether the node exists (covers at least one leaf). */
  exists(n: TreeNode): boolean {
    return n.h >= 0 && n.h <= this.height && n.i >= 0 && Number.isInteger(n.i) && n.i * 2 ** n.h < this.leaves;
  }

  /** The two children, or [left] alone when the right one is empty. */
  children(n: TreeNode): TreeNode[] {
    if (n.h === 0) return [];
    const left = { h: n.h - 1, i: 2 * n.i };
    const right = { h: n.h - 1, i: 2 * n.i + 1 };
    return this.exists(right) ? [left, right] : [left];
  }

  /**
   * The canonical cover of leaves [lo, hi): the fewest tree nodes, left to right, whose
   * ranges tile it (O(log L) nodes). Greedy: at each position take the highest node that
   * starts there and ends within hi.
   */
  cover(lo: number, hi: number): TreeNode[] {
    if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 0 && hi <= this.leaves && lo <= hi)) {
      throw new RangeError(`cover: [${lo}, ${hi}) is not a range of ${this.leaves} leaves`);
    }
    const out: TreeNode[] = [];
    let a = lo;
    while (a < hi) {
      let h = 0;
      while (h < this.height && a % 2 ** (h + 1) === 0 && Math.min(a + 2 ** (h + 1), this.leaves) <= hi) h++;
      const n = { h, i: a / 2 ** h };
      out.push(n);
      a = this.range(n)[1];
    }
    return out;
  }
}

let lastTree: ReductionTree | null = null;

/** The tree of `leaves` leaves: immutable, so the last one asked for is reused (a step makes none). */
export function treeOf(leaves: number): ReductionTree {
  if (lastTree === null || lastTree.leaves !== leaves) lastTree = new ReductionTree(leaves);
  return lastTree;
}

/**
 * The value of node `n` in the tree's fixed order: `get(m)` returns a value already known for
 * node m (a computed leaf, a partial received for a whole node) or undefined; unknown nodes
 * are left + right, the left computed first, summed by `add(left, right)` in place: the left
 * operand becomes the sum, unless add returns the operand that holds it (IEEE addition is
 * commutative, so either may: the coordinator sums into the buffer in its own cache).
 * Every executor and the coordinator combine through this one walk.
 * Throws when a leaf has no value.
 */
export function combineNode<T>(
  tree: ReductionTree,
  n: TreeNode,
  get: (m: TreeNode) => T | undefined,
  add: (into: T, from: T) => T | void,
): T {
  const v = get(n);
  if (v !== undefined) return v;
  const kids = tree.children(n);
  if (kids.length === 0) throw new Error(`reduction tree: leaf ${n.i} has no value`);
  const left = combineNode(tree, kids[0]!, get, add);
  if (kids.length === 1) return left;
  return add(left, combineNode(tree, kids[1]!, get, add)) ?? left;
}

/** The root's value: combineNode from the root. */
export function combineToRoot<T>(tree: ReductionTree, get: (n: TreeNode) => T | undefined, add: (into: T, from: T) => T | void): T {
  return combineNode(tree, tree.root(), get, add);
}
