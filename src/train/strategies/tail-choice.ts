/**
 * tail-choice.ts — whether to share this step's tail (strategies/shared-tail.ts) or run it on
 * the main thread alone: whichever way has measured faster lately, with a block now and then
 * the other way so that both stay measured.
 * Invariant: both ways give the same bits, so the choice changes only the time; it reads
 * nothing but step times (a pure function of the times observed).
 */

/**
 * Shares the step's tail or not, by measurement, in blocks of BLOCK steps: each block goes
 * one way, and its mean step time (without its first WARM steps, which pay for caches and
 * code the other way left cold, and without its slowest eighth: a VM's preemptions, a few
 * steps of several ms that land on either way by chance and would decide the comparison
 * alone) updates that way's estimate; the next block goes the faster way, but now and then
 * one block goes the other way (explores), so both stay measured. After two blocks of
 * warm-up (shared, not measured), two blocks try both ways. Sharing wins when both threads
 * run; it loses when the machine preempts one of them mid-tail (the other then waits for the
 * unit it holds), and a VM moves between the two (docs/performance.md has the figures).
 *
 * How often it explores: an exploring block costs the measured gap between the two ways
 * (relative to the faster), so once the slower way has been measured twice, the blocks between
 * explorations are that gap over EXPLORE_COST, within [EXPLORE_MIN, EXPLORE_MAX]: a way far
 * behind costs at most about EXPLORE_COST of the run's time, a close race is re-checked every
 * EXPLORE_MIN blocks. An exploring block's mean replaces the explored way's estimate instead
 * of being averaged into it: that estimate is old, and one slow block (a busy host right after
 * warm-up) must not keep a way out for EXPLORE_MAX blocks. The way in use is measured on every
 * block, so when it gets slower than the other's estimate the choice switches at once.
 */
export class TailChoice {
  static readonly BLOCK = 64;
  static readonly WARM = 8;
  /** Fewest and most blocks from one exploring block to the next. */
  static readonly EXPLORE_MIN = 8;
  static readonly EXPLORE_MAX = 16;
  /** The share of the run's time that exploring a slower way may cost. */
  static readonly EXPLORE_COST = 0.005;
  /** Mean step ms of each way (NaN: not measured yet): [alone, shared]. */
  private readonly mean = [NaN, NaN];
  /** Blocks measured each way: [alone, shared]. */
  private readonly count = [0, 0];
  private block = 0;
  private inBlock = 0;
  /** The measured step times of the block in progress. */
  private readonly times = new Float64Array(TailChoice.BLOCK);
  private n = 0;
  private way = true;
  /** Whether the block in progress goes the way that was not the faster (block 3's trial included). */
  private exploring = false;
  /** The next block to go the slower way; set once both ways are measured (block 3). */
  private nextExplore = Infinity;

  /** Blocks from one exploring block to the next, for the two ways' estimates. */
  static period(alone: number, shared: number): number {
    const gap = Math.abs(alone - shared) / Math.min(alone, shared);
    if (!(gap >= 0)) return TailChoice.EXPLORE_MIN;
    return Math.min(TailChoice.EXPLORE_MAX, Math.max(TailChoice.EXPLORE_MIN, Math.round(gap / TailChoice.EXPLORE_COST)));
  }

  /** The way for the next step. */
  pick(): boolean {
    if (this.inBlock === 0) {
      const [alone, shared] = this.mean as [number, number];
      const better = !(alone < shared); // a way not measured yet loses no comparison
      // blocks 0 and 1 are the run's warm-up (compiling, first touches): shared, not
      // measured; 2 and 3 try both ways
      this.exploring = this.block === 3 || (this.block > 3 && this.block >= this.nextExplore);
      this.way = this.block <= 2 ? true : this.block === 3 ? false : this.exploring ? !better : better;
      this.n = 0;
    }
    return this.way;
  }

  /** A step's time, taken the way `shared` says (the way pick() gave). */
  observe(shared: boolean, ms: number): void {
    if (shared !== this.way) return;
    if (this.inBlock >= TailChoice.WARM) this.times[this.n++] = ms;
    if (++this.inBlock < TailChoice.BLOCK) return;
    this.inBlock = 0;
    if (this.block++ < 2) return;
    const i = shared ? 1 : 0;
    const sorted = this.times.subarray(0, this.n).sort();
    const keep = this.n - Math.floor(this.n / 8);
    let sum = 0;
    for (let k = 0; k < keep; k++) sum += sorted[k]!;
    const m = sum / keep;
    this.mean[i] = Number.isNaN(this.mean[i]!) || this.exploring ? m : 0.5 * (this.mean[i]! + m);
    this.count[i]++;
    if (!this.exploring) return;
    // the next exploration, from the end of this one (the block just measured)
    const [alone, both] = this.mean as [number, number];
    const slower = alone < both ? 1 : 0;
    this.nextExplore = this.block - 1 + (this.count[slower]! < 2 ? TailChoice.EXPLORE_MIN : TailChoice.period(alone, both));
  }
}
