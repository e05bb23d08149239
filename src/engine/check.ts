/**
 * One model-checking run: instantiate, explore, rebuild the shortest trace of
 * each violation, and collect statistics, coverage and vacuity warnings.
 */
import { instantiate, type CompiledModel } from './compile.js';
import { checkLiveness } from './check-liveness.js';
import { defaultMemoryLimit, explore, exploreAsync, type CheckOptions, type Exploration, type LimitHit } from './explore.js';
import type { StoreKind } from './fingerprint-store.js';
import { exploreParallel, type ModelSource, type WorkerThreads } from './parallel.js';
import type { ModelDef, ParamValueAny, Verdict } from './model.js';
import { pathTo, replayInstances, type TraceStep } from './trace.js';

export interface Violation {
  readonly invariant: string;
  readonly kind: 'invariant' | 'deadlock' | 'liveness';
  /** Why it failed in the last state (from the invariant's explain(), if any). */
  readonly reason: string;
  readonly trace: TraceStep[];
  /** Liveness: the trace is a lasso, its steps after trace[loopStart] repeat forever (the last state is trace[loopStart]'s). */
  readonly loopStart?: number;
}

export interface CheckResult {
  readonly model: string;
  readonly params: Record<string, ParamValueAny>;
  readonly verdict: Verdict;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly elapsedMs: number;
  readonly statesPerSec: number;
  readonly bytesPerState: number;
  /** Peak resident set size of the process (worker threads included). */
  readonly peakRssBytes: number;
  /** Visited-set kind (--store). */
  readonly store: StoreKind;
  /** Worker threads (--workers); 1 = the single-threaded explorer. */
  readonly workers: number;
  /** Fingerprint store only: estimated probability that a state was missed (hash compaction). */
  readonly omissionProbability?: number;
  readonly limit: LimitHit | undefined;
  readonly violations: Violation[];
  readonly invariants: string[];
  readonly warnings: string[];
  readonly stateWords: number;
  /** Sorts whose members were permuted (states are then orbit representatives); empty = full state space. */
  readonly symmetry: readonly string[];
  /** The last checkpoint the run wrote (--checkpoint). */
  readonly checkpoint?: { readonly file: string; readonly states: number };
  /** With --liveness: the liveness properties checked (one per case) and their graph (check-liveness.ts). */
  readonly liveness?: {
    readonly checked: readonly string[];
    /** How many of them have a counterexample (a lasso). */
    readonly violated: number;
    /** States (and their transitions) of the graph the verdicts rest on: all reachable ones unless `limit` or `early`. */
    readonly states: number;
    readonly transitions: number;
    readonly elapsedMs: number;
    /** The graph stopped by this limit and some property is not decided. */
    readonly limit?: string;
    /** Every property was violated on the first `states` states; the rest of the graph was not built. */
    readonly early?: true;
    /** The graph kept 64-bit fingerprints, not states (--store fingerprint): a holds may have missed states. */
    readonly fingerprint?: true;
  };
}

export interface RunOptions extends CheckOptions {
  invariants?: readonly string[];
}

export interface ParallelRunOptions extends CheckOptions {
  /** Worker threads; more than 1 needs `source`. */
  workers?: number;
  /** The model file the workers load (they build their own copy of the model). */
  source?: ModelSource;
  /** Tests: run the multi-core explorer even on one worker; start only once every worker thread is ready; states claimed at once. */
  parallel?: boolean;
  waitForWorkers?: boolean;
  chunk?: number;
  /** Worker threads started before the model was loaded (parallel.ts WorkerThreads). */
  threads?: WorkerThreads;
}

export function check(def: ModelDef, params: Record<string, ParamValueAny> = {}, opts: RunOptions = {}): CheckResult {
  const model = instantiate(def, params, { invariants: opts.invariants });
  return checkCompiled(model, opts);
}

export function checkCompiled(model: CompiledModel, opts: CheckOptions = {}): CheckResult {
  const t0 = performance.now();
  let ex = explore(model, opts);
  if (ex.violations.some((v) => v.multiCore)) ex = mergeReport(ex, explore(model, reportOptions(model, ex, opts, performance.now() - t0)), opts);
  return withLiveness(model, result(model, ex, opts, 1), opts, t0);
}

/**
 * With opts.liveness, the liveness properties too, after the safety search
 * and within what is left of its limits. Not after a safety violation
 * (without --all the search stopped there; the run has failed already).
 */
function withLiveness(model: CompiledModel, r: CheckResult, opts: CheckOptions, t0: number): CheckResult {
  if (!opts.liveness) return r;
  if (model.liveness.length === 0) return { ...r, warnings: [...r.warnings, `--liveness: model ${model.def.name} has no liveness properties`] };
  if (r.violations.length && !opts.all) return { ...r, warnings: [...r.warnings, 'liveness not checked: the search stopped at the first violation (--all checks both)'] };
  const lv = checkLiveness(model, {
    maxStates: opts.maxStates,
    memoryLimitBytes: opts.memoryLimitBytes ?? defaultMemoryLimit(),
    deadline: opts.timeLimitMs !== undefined ? t0 + opts.timeLimitMs : undefined,
    signal: opts.signal,
    fingerprint: opts.store === 'fingerprint',
  });
  const violations = [...r.violations, ...lv.violations];
  const limit = r.limit ?? (lv.limit as LimitHit | undefined);
  return {
    ...r,
    verdict: violations.length ? 'violated' : limit ? 'incomplete' : r.verdict,
    limit,
    violations,
    warnings: [...r.warnings, ...(r.symmetry.length ? ['liveness is checked on the full state graph (symmetry applies to the invariants only)'] : [])],
    liveness: {
      checked: lv.checked,
      violated: lv.violations.length,
      states: lv.states,
      transitions: lv.transitions,
      elapsedMs: lv.elapsedMs,
      ...(lv.limit ? { limit: lv.limit } : {}),
      ...(lv.early ? { early: true as const } : {}),
      ...(opts.store === 'fingerprint' ? { fingerprint: true as const } : {}),
    },
  };
}

/** checkCompiled, on `workers` threads when more than one (parallel.ts). */
export async function checkCompiledAsync(model: CompiledModel, opts: ParallelRunOptions = {}): Promise<CheckResult> {
  const workers = opts.workers ?? 1;
  const t0 = performance.now();
  const single = workers <= 1 && !opts.parallel;
  let ex: Exploration;
  if (single) ex = await exploreAsync(model, opts);
  else {
    if (!opts.source) throw new Error('a multi-core run needs the model file (source)');
    ex = await exploreParallel(model, { ...opts, workers, source: opts.source });
  }
  // A multi-core run's violations, and those a resumed run took over from a multi-core checkpoint, get the one-thread report.
  if (single ? ex.violations.some((v) => v.multiCore) : ex.violations.length > 0)
    ex = mergeReport(ex, await exploreAsync(model, reportOptions(model, ex, opts, performance.now() - t0)), opts);
  return withLiveness(model, result(model, ex, opts, single ? 1 : workers), opts, t0);
}

/**
 * Which state a multi-core level finds first depends on the threads'
 * timing, so a violating run's counts and counterexample would too. The
 * report is re-derived on one thread, down to the depth of the deepest
 * violation found (a fraction of the run when the violation is shallow):
 * the states, transitions and first shortest counterexample are exactly
 * those of a one-thread run. With --all the multi-core run explored
 * everything, so its counts stand and only the counterexamples come from
 * the one-thread pass. A pass that hits a limit keeps the multi-core result,
 * with a warning. The same holds for a one-thread run resumed from a
 * checkpoint in which a multi-core run had found violations (--all).
 */
function reportOptions(model: CompiledModel, par: Exploration, opts: CheckOptions, parMs: number): CheckOptions {
  const deepest = Math.max(...par.violations.map((v) => pathTo(par.store, v.stateId).length));
  const left = opts.timeLimitMs !== undefined ? Math.max(1, opts.timeLimitMs - parMs) : undefined;
  return { ...opts, maxDepth: Math.min(opts.maxDepth ?? Infinity, deepest), timeLimitMs: left, checkpoint: undefined, resume: undefined };
}

/** The multi-core run `par` with the report of its one-thread pass `seq` (reportOptions). */
function mergeReport(par: Exploration, seq: Exploration, opts: CheckOptions): Exploration {
  const found = new Set(seq.violations.map((v) => v.name));
  if ((seq.limit && seq.limit !== 'max-depth') || par.violations.some((v) => !found.has(v.name)))
    return { ...par, notes: [...(par.notes ?? []), `the one-thread pass that makes a violating multi-core run's report deterministic stopped (${seq.limit ?? 'incomplete'}); counts and counterexample are the multi-core run's`] };
  const elapsedMs = par.elapsedMs + seq.elapsedMs;
  if (opts.all) return { ...par, store: seq.store, violations: seq.violations, elapsedMs };
  return { ...seq, limit: undefined, elapsedMs };
}

function result(model: CompiledModel, ex: Exploration, opts: CheckOptions, workers: number): CheckResult {
  const violations: Violation[] = ex.violations.map((v) => {
    const { steps, last } = replayInstances(model, pathTo(ex.store, v.stateId), { store: ex.store, stateId: v.stateId });
    let reason: string;
    if (v.kind === 'deadlock') reason = 'no action is enabled and this is not a valid end state';
    else {
      const inv = model.invariants.find((i) => i.name === v.name)!;
      reason = inv.explain ? safe(() => inv.explain!(last)) : (inv.doc?.split('\n')[0] ?? `${v.name} is false`);
    }
    return { invariant: v.name, kind: v.kind, reason, trace: steps };
  });
  const verdict: Verdict = violations.length ? 'violated' : ex.limit ? 'incomplete' : 'holds';
  return {
    model: model.def.name,
    params: model.params,
    verdict,
    states: ex.states,
    transitions: ex.transitions,
    depth: ex.depth,
    elapsedMs: ex.elapsedMs,
    statesPerSec: ex.elapsedMs > 0 ? (ex.states / ex.elapsedMs) * 1000 : 0,
    bytesPerState: ex.states ? ex.storeBytes / ex.states : 0,
    peakRssBytes: Math.max(process.memoryUsage.rss(), process.resourceUsage().maxRSS * 1024),
    store: opts.store ?? 'exact',
    workers,
    ...(ex.omissionProbability !== undefined ? { omissionProbability: ex.omissionProbability } : {}),
    limit: ex.limit,
    violations,
    invariants: model.invariants.map((i) => i.name),
    warnings: [
      ...(ex.symmetryNote ? [ex.symmetryNote] : []),
      ...(ex.notes ?? []),
      ...tabulationWarnings(model),
      ...(verdict === 'holds' ? coverageWarnings(model, ex.fired, ex.premiseCounts) : []),
    ],
    stateWords: model.layout.words,
    symmetry: ex.symmetrySorts ?? [],
    ...(opts.checkpoint && ex.checkpointStates !== undefined ? { checkpoint: { file: opts.checkpoint.file, states: ex.checkpointStates } } : {}),
  };
}

function safe(f: () => string): string {
  try {
    return f();
  } catch (e) {
    return `(explain() threw: ${(e as Error).message})`;
  }
}

/**
 * The tabulated successors or invariants (tabulate.ts) disagreed with the
 * view path on a sampled state: some guard, effect or invariant depends on
 * more than the state. The run went on through the views from that state on.
 */
function tabulationWarnings(model: CompiledModel): string[] {
  const out: string[] = [];
  const m = model.tabulationMisses();
  if (m.length)
    out.push(
      `the tabulated successors disagreed with the guards and effects on state ${m[0]} (does an action depend on something besides the state, ` +
        'such as a variable it keeps between calls?); the run went on without the tables from there, but such a model has no well-defined state space',
    );
  const lazy = model.lazyTabulatedIfBuilt();
  for (const [what, t] of [['successors', lazy?.trees], ['invariants', lazy?.invariantTrees]] as const)
    if (t?.broken)
      out.push(`the lazily tabulated ${what} were switched off: ${t.note().replace(/^lazy tables switched off: /, '')}; the run went on through the views from there`);
  const i = model.invariantTabulationMisses();
  if (i.length)
    out.push(
      `the tabulated invariants disagreed with the invariants' own checks on state ${i[0]} (does an invariant or premise depend on something besides the state?); ` +
        'the run went on checking them on the state views from there, but such an invariant has no well-defined meaning',
    );
  return out;
}

/** Actions never enabled and invariants whose premise never held: a property that cannot fail is a defect. */
export function coverageWarnings(model: CompiledModel, fired: Uint8Array, premiseCounts: number[]): string[] {
  const out: string[] = [];
  const firedAction = new Map<string, boolean>();
  for (const inst of model.instances) firedAction.set(inst.action, (firedAction.get(inst.action) ?? false) || fired[inst.id] === 1);
  for (const [name, f] of firedAction) if (!f) out.push(`action ${name} was never enabled`);
  model.invariants.forEach((inv, i) => {
    if (premiseCounts[i] === 0) out.push(`invariant ${inv.name} is vacuous: its premise never held in any reachable state`);
  });
  return out;
}
