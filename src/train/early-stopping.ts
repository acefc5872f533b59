/**
 * early-stopping.ts — stop a run when the held-out metric stops improving, as Keras's
 * EarlyStopping callback does, and optionally go back to the best epoch's weights.
 *
 * After each evaluation (the 'eval' record at an epoch's end): an improvement is a held-out
 * loss below best − minDelta (accuracy: above best + minDelta), computed as Keras does
 * (loss + minDelta < best); it resets the count of epochs
 * without one. The run stops when that count reaches `patience`, never at epoch 0 and never
 * at the run's last step (it ends there anyway). With restoreBest, a stopped run's weights
 * become those of its best epoch — only when it stops early, as restore_best_weights does.
 * The best weights are copied when a new best occurs (at an epoch's end), never per step.
 * The state travels in checkpoints (CheckpointHeader.earlyStopping), the best weights as
 * base64 of their bytes, so a resumed run stops where the uninterrupted one would.
 * Not here: the evaluation (evaluate.ts), the records and the loop (loop.ts).
 */

import type { EarlyStoppingConfig } from '../config';
import { Errors } from '../errors';
import { alloc, bytesPerElement, view, type DType, type Float } from '../tensor/dtype';

/** What a checkpoint keeps of early stopping (JSON: no Infinity, so null before the first evaluation). */
export interface EarlyStoppingState {
  /** The best monitored value so far; null before any. */
  best: number | null;
  /** Epoch (0-based, as in the records) and step at whose end the best was reached. */
  bestEpoch: number | null;
  bestStep: number | null;
  /** The held-out loss at that point (whatever is monitored). */
  bestHeldOutLoss: number | null;
  /** Evaluations since the last improvement. */
  wait: number;
  /** The run has stopped early (a resumed run does no more steps). */
  stopped: boolean;
  /** restoreBest: the best weights, base64 of their bytes in the run's dtype (little-endian). */
  bestParams?: string;
}

/** One evaluation of the held-out set, as the 'eval' record reports it. */
export interface HeldOutEval {
  loss: number;
  accuracy: number | null;
}

export class EarlyStopping {
  private readonly st: EarlyStoppingState;
  /** restoreBest: the weights of the best epoch (allocated at the first best). */
  private bestParams: Float | null = null;

  constructor(
    private readonly cfg: EarlyStoppingConfig,
    private readonly dtype: DType,
    private readonly paramCount: number,
    resumed: EarlyStoppingState | null = null,
    file = '(checkpoint)',
  ) {
    this.st = resumed ? { ...resumed } : { best: null, bestEpoch: null, bestStep: null, bestHeldOutLoss: null, wait: 0, stopped: false };
    delete this.st.bestParams;
    if (cfg.restoreBest && resumed?.bestParams !== undefined) {
      const bytes = Buffer.from(resumed.bestParams, 'base64');
      if (bytes.length !== paramCount * bytesPerElement(dtype))
        throw Errors.checkpoint(
          file,
          `its early-stopping best weights are ${bytes.length} bytes, the model's ${paramCount} parameters need ${paramCount * bytesPerElement(dtype)}`,
        );
      const ab = new ArrayBuffer(bytes.length);
      new Uint8Array(ab).set(bytes);
      this.bestParams = view(dtype, ab, 0, paramCount);
    }
  }

  get stopped(): boolean {
    return this.st.stopped;
  }

  /**
   * The evaluation after step `step` (the end of epoch `epoch`); `params` are the weights it
   * evaluated. Returns true when the run stops here (the weights restored first with restoreBest).
   */
  observe(epoch: number, step: number, ev: HeldOutEval, params: Float, lastStep: boolean): boolean {
    const st = this.st;
    const c = this.cfg;
    const current = c.monitor === 'loss' ? ev.loss : (ev.accuracy ?? NaN);
    st.wait++;
    // Keras's own comparison (current ∓ minDelta against best); NaN never improves, the first
    // finite value always does (best starts at ±∞)
    const improved = c.monitor === 'loss' ? current + c.minDelta < (st.best ?? Infinity) : current - c.minDelta > (st.best ?? -Infinity);
    if (improved) {
      st.best = current;
      st.bestEpoch = epoch;
      st.bestStep = step;
      st.bestHeldOutLoss = ev.loss;
      st.wait = 0;
      if (c.restoreBest) (this.bestParams ??= alloc(this.dtype, this.paramCount)).set(params);
      return false;
    }
    if (st.wait < c.patience || epoch === 0 || lastStep) return false;
    st.stopped = true;
    if (c.restoreBest && this.bestParams !== null) params.set(this.bestParams);
    return true;
  }

  /** The best evaluation so far: its epoch, step and held-out loss (null before any). */
  get best(): { epoch: number | null; step: number | null; heldOutLoss: number | null } {
    return { epoch: this.st.bestEpoch, step: this.st.bestStep, heldOutLoss: this.st.bestHeldOutLoss };
  }

  /** Whether the weights now are the best epoch's, put back by observe(). */
  get restored(): boolean {
    return this.st.stopped && this.cfg.restoreBest && this.bestParams !== null;
  }

  /** A copy of the state for a checkpoint header. */
  state(): EarlyStoppingState {
    const out: EarlyStoppingState = { ...this.st };
    if (this.bestParams !== null)
      out.bestParams = Buffer.from(this.bestParams.buffer, this.bestParams.byteOffset, this.bestParams.byteLength).toString('base64');
    return out;
  }

  /** The fields of the 'early-stop' record. */
  record(epoch: number, step: number): Record<string, unknown> {
    const st = this.st;
    const c = this.cfg;
    return {
      step,
      epoch,
      monitor: c.monitor,
      best: st.best,
      bestEpoch: st.bestEpoch,
      bestStep: st.bestStep,
      bestHeldOutLoss: st.bestHeldOutLoss,
      wait: st.wait,
      patience: c.patience,
      minDelta: c.minDelta,
      restored: this.restored,
    };
  }
}
