/**
 * step-json.ts — a step record's fields as JSON, written by hand for the record's fixed shape:
 * the same text JSON.stringify gives for the fields as train/loop.ts builds them (keys in that
 * order, an optional key written only when set, a non-finite number as null), with the keys'
 * text built once. The step record is the one record of every step, and for a small model
 * JSON.stringify's walk over its keys is a large part of the step.
 * Not here: the record's schema (schema.ts), the line around it and its write (logger.ts).
 */

import type { ExecutorRecord, LayerRecord, StepRecord } from './schema';

/** A step record without what the logger adds (msg, and schema and run as its bindings). */
export type StepFields = Omit<StepRecord, 'msg' | 'schema' | 'run'>;

/** JSON text of a number: shortest round trip, null when not finite (as JSON.stringify). */
function num(x: number): string {
  return Number.isFinite(x) ? `${x}` : 'null';
}

/** The quoted forms of the few strings every record repeats (ids, kinds, activations, states). */
const quoted = new Map<string, string>();
const MAX_QUOTED = 1024;

function str(s: string): string {
  let q = quoted.get(s);
  if (q === undefined) {
    q = JSON.stringify(s);
    if (quoted.size < MAX_QUOTED) quoted.set(s, q);
  }
  return q;
}

function layer(r: LayerRecord): string {
  return (
    `{"layer":${num(r.layer)},"activation":${str(r.activation)},"dJdW":${num(r.dJdW)},"dJdWb":${num(r.dJdWb)},` +
    `"W":${num(r.W)},"updateRatio":${num(r.updateRatio)},"saturated":${num(r.saturated)},"dead":${num(r.dead)}}`
  );
}

/** An executor record, its optional keys in the order strategies/step-record.ts sets them. */
function executor(r: ExecutorRecord): string {
  let s = `{"id":${str(r.id)},"kind":${str(r.kind)},"leaves":[${num(r.leaves[0])},${num(r.leaves[1])}],"examples":${num(r.examples)},"computeMs":${num(r.computeMs)}`;
  if (r.slowest !== undefined) s += `,"slowest":${r.slowest}`;
  if (r.late !== undefined) s += `,"late":${JSON.stringify(r.late)}`;
  if (r.failed !== undefined) s += `,"failed":${JSON.stringify(r.failed)}`;
  if (r.straggler !== undefined) s += `,"straggler":${JSON.stringify(r.straggler)}`;
  if (r.audited !== undefined) s += `,"audited":${r.audited}`;
  if (r.replica !== undefined) s += `,"replica":${str(r.replica)}`;
  if (r.bytesOut !== undefined) s += `,"bytesOut":${num(r.bytesOut)}`;
  if (r.bytesIn !== undefined) s += `,"bytesIn":${num(r.bytesIn)}`;
  if (r.transferMs !== undefined) s += `,"transferMs":${num(r.transferMs)}`;
  return s + '}';
}

/** The split, its keys in the order step.ts (then loop.ts, recordMs) sets them. */
function split(p: NonNullable<StepFields['split']>): string {
  let s = `{"computeMs":${num(p.computeMs)}`;
  if (p.encodeMs !== undefined) s += `,"encodeMs":${num(p.encodeMs)}`;
  if (p.handoffMs !== undefined) s += `,"handoffMs":${num(p.handoffMs)}`;
  s += `,"reduceMs":${num(p.reduceMs)},"updateMs":${num(p.updateMs)}`;
  if (p.tailShared !== undefined) s += `,"tailShared":${p.tailShared}`;
  if (p.recordMs !== undefined) s += `,"recordMs":${num(p.recordMs)}`;
  return s + '}';
}

/** JSON.stringify(f) without its outer braces: the record's keys, for a line that has more around them. */
export function stepFieldsJson(f: StepFields): string {
  let s = `"step":${num(f.step)},"epoch":${num(f.epoch)},"loss":${num(f.loss)},"examples":${num(f.examples)},"lr":${num(f.lr)},"gradNorm":${num(f.gradNorm)},"clipped":${f.clipped},"layers":[`;
  for (let i = 0; i < f.layers.length; i++) s += (i > 0 ? ',' : '') + layer(f.layers[i]!);
  s += `],"throughput":${num(f.throughput)},"stepMs":${num(f.stepMs)}`;
  if (f.split !== undefined) s += `,"split":${split(f.split)}`;
  s += ',"executors":[';
  for (let i = 0; i < f.executors.length; i++) s += (i > 0 ? ',' : '') + executor(f.executors[i]!);
  s += '],"diagnosis":{"states":[';
  const d = f.diagnosis;
  for (let i = 0; i < d.states.length; i++) s += (i > 0 ? ',' : '') + str(d.states[i]!);
  s += ']';
  if (d.evidence !== undefined) s += `,"evidence":${JSON.stringify(d.evidence)}`;
  s += '}';
  if (f.skipped !== undefined) s += `,"skipped":${JSON.stringify(f.skipped)}`;
  if (f.nonFiniteExamples !== undefined) s += `,"nonFiniteExamples":${JSON.stringify(f.nonFiniteExamples)}`;
  return s;
}
