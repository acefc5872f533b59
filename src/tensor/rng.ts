/**
 * rng.ts — the seeded pseudo-random generator (xoshiro128**), with a serialisable state.
 *
 * Built from 32-bit integer operations only (Math.imul, shifts), so every machine draws the
 * same numbers from the same seed. Seeding expands a 32-bit seed with splitmix32.
 * Not here: initialisation schemes (model/params.ts), shuffling policy (data/batching.ts).
 */

export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;

  constructor(seed: number | RngState) {
    if (typeof seed === 'number') {
      const sm = splitmix32(seed);
      this.s0 = sm();
      this.s1 = sm();
      this.s2 = sm();
      this.s3 = sm();
    } else {
      [this.s0, this.s1, this.s2, this.s3] = seed.map((v) => v >>> 0) as RngState;
    }
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /**
   * A generator that is a pure function of the keys (e.g. seed, step, example, layer): the
   * keys are folded into one 32-bit seed, each through splitmix32's finaliser, so distinct
   * key lists collide with probability about 2^-32.
   */
  static keyed(keys: readonly number[]): Rng {
    let h = 0x243f6a88;
    for (const k of keys) {
      h = (h ^ (k >>> 0)) >>> 0;
      h = (h + 0x9e3779b9) >>> 0;
      h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
      h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
      h = (h ^ (h >>> 16)) >>> 0;
    }
    return new Rng(h);
  }

  state(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    this.s3 >>>= 0;
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  nextFloat(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.nextFloat();
  }

  /** Unbiased integer in [0, n), n ≤ 2^32, by rejection. */
  nextInt(n: number): number {
    if (!(n >= 1 && n <= 4294967296 && Number.isInteger(n))) throw new RangeError(`nextInt: n must be an integer in [1, 2^32], got ${n}`);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  /** In-place Fisher–Yates shuffle. */
  shuffle(a: Uint32Array | Int32Array | number[]): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t;
    }
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
