/**
 * step-json.ts — a step record as JSON, written by hand for the record's fixed shape: the
 * same text JSON.stringify gives for the fields as train/loop.ts builds them (keys in that
 * order, an optional key written only when set, a non-finite number as null). The step record
 * is the one record of every step, and for a small model writing it is a large part of the
 * step: its pieces (each key's text, built once, and each value's) go into one array, reused,
 * and are joined once into a flat string (no rope of a piece per value to flatten later).
 * Not here: the record's schema (schema.ts), the line's prefix and its write (logger.ts).
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

/** The pieces of the text being built (P[0, n) of a call; reused: no call is reentrant). */
const P: string[] = [];

function layer(r: LayerRecord, n: number): number {
  P[n++] = '{"layer":';
  P[n++] = num(r.layer);
  P[n++] = ',"activation":';
  P[n++] = str(r.activation);
  P[n++] = ',"dJdW":';
  P[n++] = num(r.dJdW);
  P[n++] = ',"dJdWb":';
  P[n++] = num(r.dJdWb);
  P[n++] = ',"W":';
  P[n++] = num(r.W);
  P[n++] = ',"updateRatio":';
  P[n++] = num(r.updateRatio);
  P[n++] = ',"saturated":';
  P[n++] = num(r.saturated);
  P[n++] = ',"dead":';
  P[n++] = num(r.dead);
  P[n++] = '}';
  return n;
}

/** An executor record, its optional keys in the order strategies/step-record.ts sets them. */
function executor(r: ExecutorRecord, n: number): number {
  P[n++] = '{"id":';
  P[n++] = str(r.id);
  P[n++] = ',"kind":';
  P[n++] = str(r.kind);
  P[n++] = ',"leaves":[';
  P[n++] = num(r.leaves[0]);
  P[n++] = ',';
  P[n++] = num(r.leaves[1]);
  P[n++] = '],"examples":';
  P[n++] = num(r.examples);
  P[n++] = ',"computeMs":';
  P[n++] = num(r.computeMs);
  if (r.slowest !== undefined) P[n++] = `,"slowest":${r.slowest}`;
  if (r.late !== undefined) P[n++] = `,"late":${JSON.stringify(r.late)}`;
  if (r.failed !== undefined) P[n++] = `,"failed":${JSON.stringify(r.failed)}`;
  if (r.straggler !== undefined) P[n++] = `,"straggler":${JSON.stringify(r.straggler)}`;
  if (r.audited !== undefined) P[n++] = `,"audited":${r.audited}`;
  if (r.replica !== undefined) P[n++] = `,"replica":${str(r.replica)}`;
  if (r.bytesOut !== undefined) P[n++] = `,"bytesOut":${num(r.bytesOut)}`;
  if (r.bytesIn !== undefined) P[n++] = `,"bytesIn":${num(r.bytesIn)}`;
  if (r.transferMs !== undefined) P[n++] = `,"transferMs":${num(r.transferMs)}`;
  P[n++] = '}';
  return n;
}

/** The split, its keys in the order step.ts (then loop.ts, recordMs) sets them. */
function split(p: NonNullable<StepFields['split']>, n: number): number {
  P[n++] = ',"split":{"computeMs":';
  P[n++] = num(p.computeMs);
  if (p.encodeMs !== undefined) P[n++] = `,"encodeMs":${num(p.encodeMs)}`;
  if (p.handoffMs !== undefined) {
    P[n++] = ',"handoffMs":';
    P[n++] = num(p.handoffMs);
  }
  P[n++] = ',"reduceMs":';
  P[n++] = num(p.reduceMs);
  P[n++] = ',"updateMs":';
  P[n++] = num(p.updateMs);
  if (p.tailShared !== undefined) P[n++] = `,"tailShared":${p.tailShared}`;
  if (p.recordMs !== undefined) {
    P[n++] = ',"recordMs":';
    P[n++] = num(p.recordMs);
  }
  P[n++] = '}';
  return n;
}

/** The record's keys into P from n on; returns the next free index. */
function fields(f: StepFields, n: number): number {
  P[n++] = '"step":';
  P[n++] = num(f.step);
  P[n++] = ',"epoch":';
  P[n++] = num(f.epoch);
  P[n++] = ',"loss":';
  P[n++] = num(f.loss);
  P[n++] = ',"examples":';
  P[n++] = num(f.examples);
  P[n++] = ',"lr":';
  P[n++] = num(f.lr);
  P[n++] = ',"gradNorm":';
  P[n++] = num(f.gradNorm);
  P[n++] = f.clipped ? ',"clipped":true,"layers":[' : ',"clipped":false,"layers":[';
  for (let i = 0; i < f.layers.length; i++) {
    if (i > 0) P[n++] = ',';
    n = layer(f.layers[i]!, n);
  }
  P[n++] = '],"throughput":';
  P[n++] = num(f.throughput);
  P[n++] = ',"stepMs":';
  P[n++] = num(f.stepMs);
  if (f.split !== undefined) n = split(f.split, n);
  P[n++] = ',"executors":[';
  for (let i = 0; i < f.executors.length; i++) {
    if (i > 0) P[n++] = ',';
    n = executor(f.executors[i]!, n);
  }
  P[n++] = '],"diagnosis":{"states":[';
  const d = f.diagnosis;
  for (let i = 0; i < d.states.length; i++) {
    if (i > 0) P[n++] = ',';
    P[n++] = str(d.states[i]!);
  }
  P[n++] = ']';
  if (d.evidence !== undefined) P[n++] = `,"evidence":${JSON.stringify(d.evidence)}`;
  P[n++] = '}';
  if (f.skipped !== undefined) P[n++] = `,"skipped":${JSON.stringify(f.skipped)}`;
  if (f.nonFiniteExamples !== undefined) P[n++] = `,"nonFiniteExamples":${JSON.stringify(f.nonFiniteExamples)}`;
  return n;
}

/** P[0, n) as one string. */
function joined(n: number): string {
  P.length = n;
  return P.join('');
}

/** JSON.stringify(f) without its outer braces: the record's keys, for a line that has more around them. */
export function stepFieldsJson(f: StepFields): string {
  return joined(fields(f, 0));
}

/** A log line: `head`, the time, `bindings`, stepFieldsJson(f) and `tail`, as one flat string (logger.ts). */
export function stepLine(head: string, time: number, bindings: string, f: StepFields, tail: string): string {
  P[0] = head;
  P[1] = num(time);
  P[2] = bindings;
  const n = fields(f, 3);
  P[n] = tail;
  return joined(n + 1);
}
