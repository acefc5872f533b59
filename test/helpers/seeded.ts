/** seeded.ts — a small seeded PRNG (mulberry32) for tests whose random choices must replay. */

export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** GRADSYNC_TEST_SEED when set (to replay a run), else a fresh random seed; tests print it. */
export function testSeed(): number {
  const s = process.env.GRADSYNC_TEST_SEED;
  return s !== undefined && s !== '' ? Number(s) : Math.floor(Math.random() * 2 ** 31);
}
