/**
 * evidence.ts — a reader's side of the step records' diagnoses. A step record writes its
 * diagnosis's evidence sentences only now and then (schema.ts, StepRecord.diagnosis: on the
 * first record, when the states change, every diagnosis window, on the last step), and carries
 * its states alone in between; EvidenceCarry gives each record's states with the sentences
 * that stand for them: the record's own, else the last one seen for each state.
 * Not here: making the diagnosis (diagnose.ts), drawing it (render.ts, web/dashboard/).
 */

import type { Diagnosis, DiagnosisState, StepDiagnosis } from './schema';

export class EvidenceCarry {
  private seen: Partial<Record<DiagnosisState, string>> = {};

  /**
   * The diagnosis of the next record, in order, with evidence for its states where any was seen:
   * a new object with its own states array (a record's may be frozen: Diagnoser.pushStates).
   */
  of(d: StepDiagnosis): Diagnosis {
    if (d.evidence !== undefined && d.evidence !== null && typeof d.evidence === 'object') {
      for (const [k, v] of Object.entries(d.evidence)) if (typeof v === 'string') this.seen[k as DiagnosisState] = v;
      return { states: d.states.slice(), evidence: d.evidence };
    }
    const evidence: Partial<Record<DiagnosisState, string>> = {};
    for (const s of d.states) {
      const v = this.seen[s];
      if (v !== undefined) evidence[s] = v;
    }
    return { states: d.states.slice(), evidence };
  }

  /** Forgets what was seen (a new run in the same stream). */
  reset(): void {
    this.seen = {};
  }
}
