/**
 * The JSON trace format ("tlbcheck-trace", version 1), described by
 * schema/trace.schema.json and docs/reports.md. One document holds one
 * counterexample: model, parameters, the violated invariant and why, and
 * every step with its action, arguments, CPU, kernel-vocabulary phrase, the
 * full state after it, which state variables it changed and the status of
 * every invariant in that state. `tlbcheck replay` re-executes it; the HTML
 * report renders it.
 */
import type { Violation } from '../engine/check.js';
import type { CompiledModel } from '../engine/compile.js';
import type { ParamValueAny } from '../engine/model.js';
import { changedPaths } from '../engine/trace.js';
import type { FieldType, StateDecl, View } from '../engine/types.js';

export const TRACE_FORMAT = 'tlbcheck-trace';
export const TRACE_VERSION = 1;

export interface TraceDocStep {
  /** 0 for the initial state. */
  readonly index: number;
  readonly action: string;
  readonly args: readonly number[];
  /** CPU performing the step (the diagram column); null: no CPU / global. */
  readonly cpu: number | null;
  readonly description: string;
  /** Full state after the step. */
  readonly state: Record<string, unknown>;
  /** Leaf paths (e.g. "tlb[0][1]") whose value this step changed. */
  readonly changed: readonly string[];
  /** Every invariant of the model: does it hold in this state? */
  readonly invariants: Record<string, boolean>;
}

/** How a state field is shaped, so that readers can label and lay it out. */
export interface FieldInfo {
  readonly name: string;
  readonly kind: 'int' | 'bool' | 'enum' | 'set';
  /** Array dimensions, outermost first: length and, if indexed by a sort, its name. */
  readonly dims: readonly { readonly size: number; readonly sort: string | null }[];
  /** int: the sort whose member the value names (e.g. "cpu"), -1 meaning none. */
  readonly ref: string | null;
  /** set: the sort the bitmask ranges over. */
  readonly setOf: string | null;
  readonly lo?: number;
  readonly hi?: number;
  readonly values?: readonly string[];
}

export interface TraceDoc {
  readonly format: typeof TRACE_FORMAT;
  readonly version: typeof TRACE_VERSION;
  readonly model: string;
  /** The model file as given on the command line (informational; replay takes the model as an argument). */
  readonly modelFile: string | null;
  /** Every parameter, defaults included. */
  readonly params: Record<string, ParamValueAny>;
  readonly invariant: string;
  readonly kind: 'invariant' | 'deadlock' | 'liveness';
  /** A lasso (liveness): the steps after step loopStart repeat forever; null otherwise. */
  readonly loopStart: number | null;
  /** Why the invariant fails in the last state. */
  readonly reason: string;
  /** Set when the trace is a slice of a longer counterexample: the original step numbers kept. */
  readonly slice: { readonly of: number; readonly kept: readonly number[] } | null;
  readonly fields: readonly FieldInfo[];
  readonly steps: readonly TraceDocStep[];
  /** Coverage/vacuity warnings of the run that found it, if any. */
  readonly warnings: readonly string[];
}

export function fieldInfo(decl: StateDecl): FieldInfo[] {
  return Object.entries(decl).map(([name, t0]) => {
    const dims: { size: number; sort: string | null }[] = [];
    let t: FieldType = t0;
    while (t.kind === 'array') {
      dims.push({ size: t.length, sort: t.index?.name ?? null });
      t = t.elem;
    }
    const base = { name, kind: t.kind, dims, ref: t.kind === 'int' ? (t.ref?.name ?? null) : null, setOf: t.kind === 'set' ? t.sort.name : null };
    if (t.kind === 'int') return { ...base, lo: t.lo, hi: t.hi };
    if (t.kind === 'enum') return { ...base, values: t.values };
    return base;
  });
}

/** Status of every invariant of the machine (not only the checked ones) in a state. */
export function invariantStatus(model: CompiledModel, s: View<StateDecl>): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const { name, holds } of model.allInvariants) {
    try {
      out[name] = holds(s) === true;
    } catch {
      out[name] = false;
    }
  }
  return out;
}

export interface TraceDocMeta {
  modelFile?: string;
  warnings?: readonly string[];
  slice?: { of: number; kept: readonly number[] };
}

export function traceDoc(model: CompiledModel, v: Violation, meta: TraceDocMeta = {}): TraceDoc {
  const view = model.layout.makeView();
  const steps: TraceDocStep[] = v.trace.map((st, i) => {
    model.layout.fromPlain(st.state, view);
    return {
      index: i,
      action: st.action,
      args: [...st.args],
      cpu: st.cpu ?? null,
      description: st.description,
      state: st.state,
      changed: i === 0 ? [] : changedPaths(model, v.trace[i - 1]!.state, st.state),
      invariants: invariantStatus(model, view),
    };
  });
  return {
    format: TRACE_FORMAT,
    version: TRACE_VERSION,
    model: model.def.name,
    modelFile: meta.modelFile ?? null,
    params: { ...model.params },
    invariant: v.invariant,
    kind: v.kind,
    loopStart: v.loopStart ?? null,
    reason: v.reason,
    slice: meta.slice ? { of: meta.slice.of, kept: [...meta.slice.kept] } : null,
    fields: fieldInfo(model.layout.decl),
    steps,
    warnings: [...(meta.warnings ?? [])],
  };
}

export class TraceFormatError extends Error {}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * Accepts a trace document, or the `--json` output of a check run (then the
 * violation number `which`, default the first). Returns the minimal trace
 * that replay needs; throws TraceFormatError with a one-line reason.
 */
export function readTrace(
  json: unknown,
  which = 0,
): {
  model: string;
  params: Record<string, ParamValueAny>;
  invariant: string;
  kind: 'invariant' | 'deadlock' | 'liveness';
  loopStart: number | undefined;
  reason: string;
  steps: { action: string; args: number[]; cpu: number | null; description: string; state: Record<string, unknown> | undefined }[];
} {
  if (!isObj(json)) throw new TraceFormatError('not a JSON object');
  let doc: Record<string, unknown> = json;
  if (json.format === undefined && Array.isArray(json.violations)) {
    // `tlbcheck --json` result: { version, model, params, violations: [{invariant, kind, reason, trace}] }
    const vs = json.violations as unknown[];
    if (vs.length === 0) throw new TraceFormatError('the result has no violation to replay');
    const v = vs[which];
    if (!isObj(v)) throw new TraceFormatError(`the result has ${vs.length} violation(s); there is no violation #${which + 1}`);
    doc = { format: TRACE_FORMAT, version: TRACE_VERSION, model: json.model, params: json.params, invariant: v.invariant, kind: v.kind, loopStart: v.loopStart, reason: v.reason, steps: v.trace };
  } else {
    if (doc.format !== TRACE_FORMAT) throw new TraceFormatError(`not a tlbcheck trace (format is ${JSON.stringify(doc.format)}, expected "${TRACE_FORMAT}")`);
    if (doc.version !== TRACE_VERSION) throw new TraceFormatError(`trace format version ${JSON.stringify(doc.version)} is not supported (this tlbcheck reads version ${TRACE_VERSION})`);
  }
  if (typeof doc.model !== 'string') throw new TraceFormatError('"model" must be a string');
  if (!isObj(doc.params)) throw new TraceFormatError('"params" must be an object');
  for (const [k, x] of Object.entries(doc.params))
    if (!['number', 'boolean', 'string'].includes(typeof x)) throw new TraceFormatError(`parameter ${k} must be a number, boolean or string`);
  if (typeof doc.invariant !== 'string') throw new TraceFormatError('"invariant" must be a string');
  const kind = doc.kind ?? 'invariant';
  if (kind !== 'invariant' && kind !== 'deadlock' && kind !== 'liveness') throw new TraceFormatError('"kind" must be "invariant", "deadlock" or "liveness"');
  const loopStart = doc.loopStart ?? undefined;
  if (kind === 'liveness' && !(Number.isInteger(loopStart) && (loopStart as number) >= 0)) throw new TraceFormatError('a liveness trace needs "loopStart", the step its loop starts after');
  if (kind !== 'liveness' && loopStart !== undefined) throw new TraceFormatError('"loopStart" is only for liveness traces');
  if (!Array.isArray(doc.steps) || doc.steps.length === 0) throw new TraceFormatError('"steps" must be a non-empty array (step 0 is the initial state)');
  const steps = doc.steps.map((st: unknown, i: number) => {
    if (!isObj(st)) throw new TraceFormatError(`step ${i} is not an object`);
    if (typeof st.action !== 'string') throw new TraceFormatError(`step ${i}: "action" must be a string`);
    if (!Array.isArray(st.args) || !st.args.every((a) => Number.isInteger(a))) throw new TraceFormatError(`step ${i}: "args" must be an array of integers`);
    const cpu = st.cpu ?? null;
    if (cpu !== null && !Number.isInteger(cpu)) throw new TraceFormatError(`step ${i}: "cpu" must be an integer or null`);
    if (st.state !== undefined && !isObj(st.state)) throw new TraceFormatError(`step ${i}: "state" must be an object`);
    return {
      action: st.action,
      args: st.args as number[],
      cpu: cpu as number | null,
      description: typeof st.description === 'string' ? st.description : '',
      state: st.state as Record<string, unknown> | undefined,
    };
  });
  if (steps[0]!.action !== 'init') throw new TraceFormatError('step 0 must be the initial state (action "init")');
  if (loopStart !== undefined && (loopStart as number) > steps.length - 1) throw new TraceFormatError(`"loopStart" ${String(loopStart)} is past the last step (${steps.length - 1})`);
  return {
    model: doc.model,
    params: doc.params as Record<string, ParamValueAny>,
    invariant: doc.invariant,
    kind,
    loopStart: loopStart as number | undefined,
    reason: typeof doc.reason === 'string' ? doc.reason : '',
    steps,
  };
}
