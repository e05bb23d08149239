/**
 * `tlbcheck simulate <model>`: seeded random walks for configurations that
 * exhaustive search cannot finish (issue #27 item 3).
 *
 * A walk starts in the initial state and takes, at each step, one of the
 * enabled action instances uniformly at random. Successors come from the
 * explorer's own batch (engine/batch.ts: the tabulated or lazily grown
 * decision trees over the packed state, cross-checked against the views),
 * so every walk is a path of the state space `tlbcheck` checks. Every state
 * a walk reaches is checked against the invariants, and a state with no
 * successor that is not a valid end state is a deadlock, as in the BFS.
 *
 * A violation is then shrunk to a short counterexample (`shrinkPath`): the
 * walk's loops are cut (a state seen twice), then steps are deleted by delta
 * debugging (chunks, single steps, pairs) and stretches are replaced by
 * shorter detours found by a small breadth-first search around the path.
 * Every candidate is replayed from the initial state, each step re-resolved
 * by its action instance (action name and arguments) and kept only if every
 * step is enabled where it is taken and the last state violates the same
 * invariant. The result is rebuilt as a trace exactly like the BFS checker's
 * (engine/trace.ts replayInstances), so the race diagram, --trace-out and
 * `tlbcheck replay` take it unchanged.
 *
 * Walk i of a seed is a function of (seed, i) alone: a run with a time limit
 * finds the same first violation as one with enough --runs. Random search
 * never proves that an invariant holds: without a violation the verdict is
 * incomplete (exit 3).
 */
import { createBatch, RangeFault, ShapeFault, type Batch } from './engine/batch.js';
import type { Violation } from './engine/check.js';
import { ModelError, type CompiledInvariant, type CompiledModel } from './engine/compile.js';
import { instantiate } from './engine/compile.js';
import type { ParamValueAny } from './engine/model.js';
import { errText, packInitial } from './engine/explore.js';
import { HASH_SEED } from './engine/store.js';
import { replayInstances } from './engine/trace.js';
import type { StateDecl, View } from './engine/types.js';
import { raceDiagram } from './report/diagram.js';
import { checkWritable, compactJson, writeFileMkdir } from './report/files.js';
import { traceDoc } from './report/json.js';
import { fmtCount } from './report/text.js';
import { loadModel, UsageError } from './load.js';

export interface SimulateOptions {
  /** Seed of the walks (an integer 0..2^32-1); walk i uses a generator seeded from (seed, i). */
  seed: number;
  /** Steps per walk at most (a walk also ends in a valid end state with no successor). */
  steps: number;
  /** Walks at most (default: as many as timeLimitMs allows, or 1,000 without a time limit). */
  runs?: number;
  /** Stop starting walks after this long (the walk under way is finished). */
  timeLimitMs?: number;
  /** Check only these of the model's (checked) invariants; default all of them. */
  invariants?: readonly string[];
  /** No deadlock detection. */
  noDeadlock?: boolean;
  /** Shrink a violation (default true); false reports the walk as it was found. */
  shrink?: boolean;
  /** Budget for shrinking (default 20 s): the best path found by then is kept. */
  shrinkTimeMs?: number;
  /** Slots of the distinct-state fingerprint set at most (8 bytes each; default 2^22 = 32 MiB). */
  maxDistinct?: number;
  /** Stop (limit 'interrupted') at the next check once aborted. */
  signal?: AbortSignal;
  onProgress?: (p: SimulateProgress) => void;
  progressIntervalMs?: number;
}

export interface SimulateProgress {
  walks: number;
  steps: number;
  distinctStates: number;
  elapsedMs: number;
}

export type SimulateLimit = 'runs' | 'time-limit' | 'interrupted';

export interface SimulateResult {
  readonly mode: 'simulate';
  readonly model: string;
  readonly params: Record<string, ParamValueAny>;
  /** 'violated', or 'incomplete': random walks never prove that an invariant holds. */
  readonly verdict: 'violated' | 'incomplete';
  readonly seed: number;
  /** Steps per walk at most. */
  readonly maxSteps: number;
  /** Walks started (the violating one included). */
  readonly walks: number;
  /** Steps taken by all walks. */
  readonly steps: number;
  /** Walks that ended in a valid end state with no successor before the step bound. */
  readonly endedWalks: number;
  readonly elapsedMs: number;
  readonly walksPerSec: number;
  readonly stepsPerSec: number;
  /** Distinct states reached (the initial one too), counted by 64-bit fingerprints. */
  readonly distinctStates: number;
  /** The fingerprint set filled up: distinctStates is a lower bound. */
  readonly distinctSaturated: boolean;
  /** Why the run stopped without a violation. */
  readonly limit: SimulateLimit | undefined;
  /** At most one: the first violation found, shrunk; the same shape as CheckResult.violations. */
  readonly violations: Violation[];
  /** How the violation was found and shrunk. */
  readonly found: SimulateFound | undefined;
  readonly invariants: string[];
  readonly warnings: string[];
}

export interface SimulateFound {
  /** The walk that found it (0-based) and its length then. */
  readonly walk: number;
  readonly walkSteps: number;
  /** Steps after cutting the walk's loops, and after shrinking. */
  readonly loopFreeSteps: number;
  readonly steps: number;
  readonly shrinkMs: number;
  readonly replays: number;
  /** The shrink budget ran out (the trace may be longer than it needs to be). */
  readonly shrinkTimedOut: boolean;
}

// ---------------------------------------------------------------- random numbers

/** splitmix32 step: a well-mixed 32-bit value from any 32-bit input. */
function mix32(x: number): number {
  x = (x + 0x9e3779b9) | 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** sfc32, seeded from (seed, walk): walk i of a seed does not depend on the walks before it. */
export function walkRandom(seed: number, walk: number): () => number {
  let a = mix32(seed ^ 0x243f6a88);
  let b = mix32(a ^ walk);
  let c = mix32(b ^ Math.imul(walk, 0x27d4eb2f) ^ seed);
  let d = 1;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) next();
  return next;
}

// ---------------------------------------------------------------- distinct states

/**
 * A set of 64-bit state fingerprints (two 32-bit hashes of the packed
 * state), open addressing, growing up to `maxSlots` slots (8 bytes each).
 * Once it is three quarters full at its largest it stops taking states
 * and says so (`saturated`): the count is then a lower bound.
 */
class FingerprintSet {
  private t: Uint32Array;
  private mask: number;
  count = 0;
  saturated = false;
  constructor(private readonly maxSlots: number) {
    const slots = Math.min(1 << 16, maxSlots);
    this.t = new Uint32Array(slots * 2);
    this.mask = slots - 1;
  }
  add(h1: number, h2: number): void {
    if (this.saturated) return;
    if (h1 === 0 && h2 === 0) h2 = 1;
    this.place(h1, h2);
    const slots = this.mask + 1;
    if (this.count * 2 > slots) {
      if (slots < this.maxSlots) this.grow();
      else if (this.count * 4 >= slots * 3) this.saturated = true;
    }
  }
  bytes(): number {
    return this.t.byteLength;
  }
  private place(h1: number, h2: number): void {
    const t = this.t;
    for (let i = h1 & this.mask; ; i = (i + 1) & this.mask) {
      const a = t[2 * i]!;
      const b = t[2 * i + 1]!;
      if (a === 0 && b === 0) {
        t[2 * i] = h1;
        t[2 * i + 1] = h2;
        this.count++;
        return;
      }
      if (a === h1 && b === h2) return;
    }
  }
  private grow(): void {
    const old = this.t;
    const slots = (this.mask + 1) * 2;
    this.t = new Uint32Array(slots * 2);
    this.mask = slots - 1;
    this.count = 0;
    for (let i = 0; i < old.length; i += 2) if (old[i] !== 0 || old[i + 1] !== 0) this.place(old[i]!, old[i + 1]!);
  }
}

const HASH_SEED2 = 0x6c8e9cf5;

// ---------------------------------------------------------------- the walks

/** What a walk found: the instances it took and what fails in its last state. */
interface RawFind {
  readonly walk: number;
  readonly path: number[];
  /** Invariant name, or 'deadlock'. */
  readonly name: string;
  readonly kind: 'invariant' | 'deadlock';
}

/** A walk under way. */
interface Slot {
  readonly walk: number;
  readonly rnd: () => number;
  /** Steps taken; path[0..len) the instances taken. */
  len: number;
  path: Int32Array;
  /** Ended (end state, violation or its step bound). */
  over: boolean;
}

/** A run in slices, like the explorer's (run(until) returns true when finished). */
export interface SimulateJob {
  run(until: number): boolean;
  result(): SimulateResult;
}

/** Steps per walk at most (a violating walk is kept whole for shrinking). */
export const MAX_STEPS = 10_000_000;

function selectInvariants(model: CompiledModel, names: readonly string[] | undefined): CompiledInvariant[] {
  if (!names || names.length === 0) return [...model.invariants];
  for (const n of names)
    if (!model.invariants.some((i) => i.name === n))
      throw new ModelError(`unknown invariant ${n} for model ${model.def.name} (checked: ${model.invariants.map((i) => i.name).join(', ') || 'none'})`);
  return model.invariants.filter((i) => names.includes(i.name));
}

export function validateSimulateOptions(opts: SimulateOptions): void {
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed > 0xffffffff) throw new ModelError(`seed must be an integer from 0 to ${0xffffffff}, got ${opts.seed}`);
  if (!Number.isInteger(opts.steps) || opts.steps < 1 || opts.steps > MAX_STEPS) throw new ModelError(`steps must be an integer from 1 to ${MAX_STEPS}, got ${opts.steps}`);
  if (opts.runs !== undefined && (!Number.isInteger(opts.runs) || opts.runs < 1)) throw new ModelError(`runs must be a positive integer, got ${opts.runs}`);
  if (opts.timeLimitMs !== undefined && !(opts.timeLimitMs > 0)) throw new ModelError(`the time limit must be positive, got ${opts.timeLimitMs} ms`);
}

export function startSimulate(model: CompiledModel, opts: SimulateOptions): SimulateJob {
  validateSimulateOptions(opts);
  const t0 = performance.now();
  const { layout } = model;
  const W = layout.words;
  const invs = selectInvariants(model, opts.invariants);
  const holds = invs.map((i) => i.holds);
  const premises = invs.map((i) => i.premise);
  // Bit i of the batch's premise mask is model.invariants[i].
  const premiseBit = invs.map((i) => model.invariants.indexOf(i));
  const premiseCounts = invs.map((i) => (i.premise ? 0 : -1));
  const endState = model.machine.endState;
  const runs = opts.runs ?? (opts.timeLimitMs === undefined ? 1000 : Infinity);
  const timeLimit = opts.timeLimitMs ?? Infinity;
  const maxSteps = opts.steps;
  const progressEvery = opts.progressIntervalMs ?? 100;
  const batch = createBatch(model, undefined);
  const { out, ks, ends } = batch;
  // The walks run in lockstep: the current states of up to K walks are
  // expanded together, one batch as the explorer expands them (one state
  // per call would pay the batch's fixed costs on every step).
  const K = batch.size;
  const curs = new Uint32Array(K * W);
  const slots: Slot[] = [];
  const seen = new FingerprintSet(Math.max(1024, 2 ** Math.floor(Math.log2(opts.maxDistinct ?? 1 << 22))));
  const fired = new Uint8Array(model.instances.length);
  const view = layout.makeView();
  const init = new Uint32Array(W);

  let walks = 0;
  let steps = 0;
  let ended = 0;
  let limit: SimulateLimit | undefined;
  /** The violation of the lowest-numbered walk found so far. */
  let find: RawFind | undefined;
  let done = false;
  let lastProgress = t0;
  let elapsedMs = 0;

  /** The first selected invariant that fails in `v` (premises counted on the way), or undefined. */
  const failing = (v: View<StateDecl>): string | undefined => {
    for (let i = 0; i < holds.length; i++) if (!holds[i]!(v)) return invs[i]!.name;
    for (let i = 0; i < premises.length; i++) if (premises[i]?.(v)) premiseCounts[i]!++;
    return undefined;
  };
  /** Invariants on the packed state at w[o..]: the batch's tables first, the views when they do not know. */
  const check = (w: Uint32Array, o: number): string | undefined => {
    const pm = batch.invariantsHold(w, o);
    if (pm >= 0) {
      if (pm !== 0) for (let i = 0; i < premiseBit.length; i++) if (premiseCounts[i]! >= 0 && pm & (1 << premiseBit[i]!)) premiseCounts[i]!++;
      return undefined;
    }
    layout.unpack(w, o, view);
    return guarded(model, view, () => failing(view));
  };
  const note = (w: Uint32Array, o: number) => seen.add(layout.hash(w, o, HASH_SEED), layout.hash(w, o, HASH_SEED2));

  packInitial(model, init, 0);
  note(init, 0);
  const bad0 = check(init, 0);
  if (bad0) {
    find = { walk: 0, path: [], name: bad0, kind: 'invariant' };
    walks = 1;
  }

  /**
   * A violation of walk `w`: kept if no lower-numbered walk has one. From
   * then on no walk starts, and the walks under way with a higher number
   * are dropped: the result is the first violating walk in walk order,
   * whatever ran beside it.
   */
  const found = (sl: Slot, name: string, kind: 'invariant' | 'deadlock') => {
    if (find && find.walk < sl.walk) return;
    find = { walk: sl.walk, path: Array.from(sl.path.subarray(0, sl.len)), name, kind };
  };

  const run = (until: number): boolean => {
    if (done) return true;
    for (;;) {
      const now = performance.now();
      if (now - t0 >= timeLimit) limit = 'time-limit';
      else if (opts.signal?.aborted) limit = 'interrupted';
      if (limit) break;
      if (opts.onProgress && now - lastProgress >= progressEvery) {
        lastProgress = now;
        opts.onProgress({ walks, steps, distinctStates: seen.count, elapsedMs: now - t0 });
      }
      if (now >= until && walks > 0) return false;
      while (slots.length < K && !find && walks < runs) {
        const w = walks++;
        curs.set(init, slots.length * W);
        slots.push({ walk: w, rnd: walkRandom(opts.seed, w), len: 0, path: new Int32Array(Math.min(maxSteps, 64)), over: false });
      }
      if (slots.length === 0) {
        if (!find) limit = 'runs';
        break;
      }
      const n = slots.length;
      expandStates(model, batch, curs, n, view);
      let i0 = 0;
      for (let j = 0; j < n; j++) {
        const sl = slots[j]!;
        const e = ends[j]!;
        if (i0 === e) {
          // No successor: a valid end state, or a deadlock.
          sl.over = true;
          layout.unpack(curs, j * W, view);
          if (endState && guarded(model, view, () => endState(view))) ended++;
          else if (!opts.noDeadlock) found(sl, 'deadlock', 'deadlock');
          continue;
        }
        for (let i = i0; i < e; i++) fired[ks[i]!] = 1;
        const r = i0 + Math.floor((sl.rnd() * (e - i0)) / 4294967296);
        i0 = e;
        const o = r * W;
        const d = j * W;
        for (let k = 0; k < W; k++) curs[d + k] = out[o + k]!;
        if (sl.len === sl.path.length) {
          const p2 = new Int32Array(Math.min(maxSteps, sl.path.length * 2));
          p2.set(sl.path);
          sl.path = p2;
        }
        sl.path[sl.len++] = ks[r]!;
        steps++;
        note(curs, d);
        const bad = check(curs, d);
        if (bad !== undefined) {
          sl.over = true;
          found(sl, bad, 'invariant');
        } else if (sl.len >= maxSteps) sl.over = true;
      }
      // Drop the walks that are over (and, after a violation, those numbered after it).
      let k = 0;
      for (let j = 0; j < n; j++) {
        const sl = slots[j]!;
        if (sl.over || (find && sl.walk > find.walk)) continue;
        if (k !== j) curs.copyWithin(k * W, j * W, j * W + W);
        slots[k++] = sl;
      }
      slots.length = k;
    }
    slots.length = 0;
    done = true;
    elapsedMs = performance.now() - t0;
    return true;
  };

  const result = (): SimulateResult => {
    if (!done) throw new Error('simulation not finished');
    let violations: Violation[] = [];
    let found: SimulateFound | undefined;
    if (find) {
      const target: Target = { kind: find.kind, name: find.name };
      const s0 = performance.now();
      const sh =
        opts.shrink === false
          ? { path: find.path, replays: 0, timedOut: false, loopFree: cutLoops(model, find.path).length }
          : shrinkPath(model, find.path, target, { timeMs: opts.shrinkTimeMs ?? 20_000, batch });
      const loopFree = sh.loopFree;
      violations = [violationOf(model, sh.path, target)];
      found = {
        walk: find.walk,
        walkSteps: find.path.length,
        loopFreeSteps: loopFree,
        steps: sh.path.length,
        shrinkMs: performance.now() - s0,
        replays: sh.replays,
        shrinkTimedOut: sh.timedOut,
      };
    }
    const secs = elapsedMs / 1000;
    return {
      mode: 'simulate',
      model: model.def.name,
      params: model.params,
      verdict: find ? 'violated' : 'incomplete',
      seed: opts.seed,
      maxSteps,
      walks,
      steps,
      endedWalks: ended,
      elapsedMs,
      walksPerSec: secs > 0 ? walks / secs : 0,
      stepsPerSec: secs > 0 ? steps / secs : 0,
      distinctStates: seen.count,
      distinctSaturated: seen.saturated,
      limit: find ? undefined : limit,
      violations,
      found,
      invariants: invs.map((i) => i.name),
      warnings: [...tableWarnings(model), ...(find ? [] : coverage(model, fired, invs, premiseCounts))],
    };
  };
  return { run, result };
}

/** Random walks over `model` (synchronous; see startSimulate and the file comment). */
export function simulate(model: CompiledModel, opts: SimulateOptions): SimulateResult {
  const job = startSimulate(model, opts);
  job.run(Infinity);
  return job.result();
}

/** simulate(), returning to the event loop every 50 ms so that a signal can stop it. */
export async function simulateAsync(model: CompiledModel, opts: SimulateOptions): Promise<SimulateResult> {
  const job = startSimulate(model, opts);
  while (!job.run(performance.now() + 50)) await new Promise<void>((r) => setImmediate(r));
  return job.result();
}

/** The successors of the n packed states in cur (batch.ts: out, ks, ends); model faults named as the explorer names them. */
function expandStates(model: CompiledModel, batch: Batch, cur: Uint32Array, n: number, view: View<StateDecl>): number {
  try {
    return batch.expand(cur, 0, n, 0);
  } catch (e) {
    const { layout } = model;
    layout.unpack(cur, batch.at * layout.words, view);
    const state = JSON.stringify(layout.toPlain(view));
    if (e instanceof RangeFault) {
      const inst = model.instances[e.instance]!;
      throw new ModelError(`action ${inst.action}(${inst.args.join(',')}) wrote ${layout.leaves[e.leaf]!.path} outside its declared range; state before: ${state}`);
    }
    if (e instanceof ShapeFault) throw new ModelError('an effect replaced an array of the state instead of assigning its elements');
    if (e instanceof ModelError) throw e;
    for (const inst of model.instances) {
      const label = `${inst.action}(${inst.args.join(',')})`;
      let en: boolean;
      try {
        en = model.enabled(view, inst.id);
      } catch (err) {
        throw new ModelError(`guard of ${label} threw ${errText(err)}; state: ${state}`);
      }
      if (!en) continue;
      try {
        model.apply(view, inst.id);
      } catch (err) {
        throw new ModelError(`effect of ${label} threw ${errText(err)}; state: ${state}`);
      }
    }
    throw new ModelError(`model threw ${errText(e)} while expanding state ${state}`);
  }
}

function guarded<T>(model: CompiledModel, v: View<StateDecl>, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`an invariant, premise or endState() threw ${errText(e)}; state: ${JSON.stringify(model.layout.toPlain(v))}`);
  }
}

function tableWarnings(model: CompiledModel): string[] {
  const out: string[] = [];
  if (model.tabulationMisses().length || model.lazyTabulatedIfBuilt()?.trees.broken)
    out.push('the tabulated successors disagreed with the guards and effects (or were switched off); the walks went on through the views from there');
  if (model.invariantTabulationMisses().length || model.lazyTabulatedIfBuilt()?.invariantTrees?.broken)
    out.push('the tabulated invariants disagreed with the invariants\' own checks (or were switched off); the walks went on checking them on the views');
  return out;
}

/** Actions never enabled and premises that never held on any walk: what the walks did not exercise. */
function coverage(model: CompiledModel, fired: Uint8Array, invs: readonly CompiledInvariant[], premiseCounts: readonly number[]): string[] {
  const out: string[] = [];
  const any = new Map<string, boolean>();
  for (const inst of model.instances) any.set(inst.action, (any.get(inst.action) ?? false) || fired[inst.id] === 1);
  for (const [name, f] of any) if (!f) out.push(`action ${name} was never enabled on any walk`);
  invs.forEach((inv, i) => {
    if (premiseCounts[i] === 0) out.push(`invariant ${inv.name} was never at stake: its premise held in no state of any walk`);
  });
  return out;
}

// ---------------------------------------------------------------- shrinking

export interface Target {
  readonly kind: 'invariant' | 'deadlock';
  /** The invariant's name ('deadlock' for a deadlock). */
  readonly name: string;
}

/**
 * Replays candidate paths from the initial state on views (the checked,
 * slow single step of traces and replay), each step re-resolved by its
 * instance (action name and arguments).
 */
class Replayer {
  replays = 0;
  private readonly a: View<StateDecl>;
  private readonly b: View<StateDecl>;
  private readonly init: View<StateDecl>;
  private readonly scratch: Uint32Array;
  private readonly inv: CompiledInvariant | undefined;
  constructor(
    private readonly model: CompiledModel,
    private readonly target: Target,
  ) {
    const { layout } = model;
    this.a = layout.makeView();
    this.b = layout.makeView();
    this.init = model.initial();
    this.scratch = new Uint32Array(layout.words);
    this.inv = target.kind === 'invariant' ? model.allInvariants.find((i) => i.name === target.name) : undefined;
    if (target.kind === 'invariant' && !this.inv) throw new ModelError(`unknown invariant ${target.name}`);
  }

  /** Does the target fail in `s`? (For a deadlock: no instance enabled and not an end state.) */
  violates(s: View<StateDecl>): boolean {
    const { model } = this;
    if (this.inv) return !this.inv.holds(s);
    for (const inst of model.instances) if (model.enabled(s, inst.id)) return false;
    return !(model.machine.endState && model.machine.endState(s));
  }

  /**
   * The length of the shortest prefix of `cand` that is a valid path ending
   * in a state where the target fails, or -1 if there is none. `states`,
   * when given, receives the packed state after each step of that prefix
   * (index 0: the initial state).
   */
  test(cand: readonly number[], states?: Uint32Array[]): number {
    this.replays++;
    const { model } = this;
    const { layout } = model;
    const actions = model.machine.actions;
    let s = this.a;
    let t = this.b;
    layout.copy(this.init, s);
    // Every state kept has been packed (range-checked) once already.
    const keep = (v: View<StateDecl>) => {
      if (!states) return;
      const w = new Uint32Array(layout.words);
      layout.pack(v, w, 0);
      states.push(w);
    };
    if (states) states.length = 0;
    keep(s);
    const deadlock = this.target.kind === 'deadlock';
    try {
      if (!deadlock && this.violates(s)) return 0;
      for (let i = 0; i < cand.length; i++) {
        const k = cand[i]!;
        if (!model.enabled(s, k)) return deadlock && this.violates(s) ? i : -1;
        const inst = model.instances[k]!;
        layout.copy(s, t);
        actions[inst.action]!.effect(t, ...inst.args);
        if (layout.pack(t, this.scratch, 0) >= 0) return -1;
        [s, t] = [t, s];
        keep(s);
        if (!deadlock && this.violates(s)) return i + 1;
      }
      return deadlock && this.violates(s) ? cand.length : -1;
    } catch {
      // A guard or effect that throws on this candidate: not a path we keep.
      return -1;
    }
  }
}

const keyOf = (w: Uint32Array) => w.join(',');

/** The walk without its loops: from each state, go on from the last visit of that state. */
export function cutLoops(model: CompiledModel, path: readonly number[]): number[] {
  const { layout } = model;
  const W = layout.words;
  const states: Uint32Array[] = [];
  let s = model.initial();
  const push = () => {
    const w = new Uint32Array(W);
    layout.pack(s, w, 0);
    states.push(w);
  };
  push();
  for (const k of path) {
    s = model.apply(s, k);
    push();
  }
  return loopFree(path, states);
}

function loopFree(path: readonly number[], states: readonly Uint32Array[]): number[] {
  const last = new Map<string, number>();
  states.forEach((w, i) => last.set(keyOf(w), i));
  const out: number[] = [];
  for (let i = 0; i < path.length; ) {
    i = last.get(keyOf(states[i]!))!;
    if (i >= path.length) break;
    out.push(path[i]!);
    i++;
  }
  return out;
}

export interface ShrinkOptions {
  /** Stop improving after this long (the best path so far is kept). */
  timeMs?: number;
  /** The batch the walks used (a new one otherwise). */
  batch?: Batch;
  /** States a detour search may look at from one state of the path (default 4,000). */
  detourStates?: number;
  /** Steps of a detour at most (default 2). */
  detourDepth?: number;
}

/**
 * Shrink a valid path that ends where `target` fails. Returns a valid path
 * (every step enabled where it is taken) that also ends where `target`
 * fails, never longer than the input: loops cut, then until nothing
 * changes or the time is up: delta debugging over the steps (ddmin:
 * chunks of halving size, down to single steps), removal of pairs of
 * steps, and detours (a breadth-first search of up to `detourDepth` steps
 * from a state of the path to a later state of it, or to a state where the
 * target fails, that saves a step).
 */
export function shrinkPath(
  model: CompiledModel,
  path: readonly number[],
  target: Target,
  opts: ShrinkOptions = {},
): { path: number[]; loopFree: number; replays: number; timedOut: boolean } {
  const deadline = performance.now() + (opts.timeMs ?? 20_000);
  const rp = new Replayer(model, target);
  const states: Uint32Array[] = [];
  const n0 = rp.test(path, states);
  if (n0 < 0) throw new ModelError(`shrink: the ${path.length}-step path does not reach a ${target.kind === 'deadlock' ? 'deadlock' : `violation of ${target.name}`}`);
  let best = loopFree(path.slice(0, n0), states);
  const loopFreeLen = best.length;
  let timedOut = false;
  const late = () => {
    if (performance.now() > deadline) timedOut = true;
    return timedOut;
  };
  /** Keep `cand` (its shortest violating prefix, loops cut) if it is shorter. */
  const accept = (cand: readonly number[]): boolean => {
    const n = rp.test(cand, states);
    if (n < 0) return false;
    const p = loopFree(cand.slice(0, n), states);
    if (p.length >= best.length) return false;
    best = p;
    return true;
  };

  const ddmin = () => {
    let n = 2;
    while (best.length >= 2 && !late()) {
      const len = best.length;
      const chunk = Math.ceil(len / n);
      let reduced = false;
      for (let start = 0; start < len && !late(); start += chunk) {
        if (accept([...best.slice(0, start), ...best.slice(start + chunk)])) {
          reduced = true;
          break;
        }
      }
      if (reduced) n = Math.max(n - 1, 2);
      else if (chunk <= 1) break;
      else n = Math.min(n * 2, len);
    }
  };
  const pairs = (): boolean => {
    for (let i = 0; i < best.length && !late(); i++)
      for (let j = i + 1; j < best.length && !late(); j++) {
        const cand = best.filter((_, x) => x !== i && x !== j);
        if (accept(cand)) return true;
      }
    return false;
  };
  const batch = opts.batch ?? createBatch(model, undefined);
  const detour = (): boolean => detours(model, batch, rp, best, target, opts.detourDepth ?? 2, opts.detourStates ?? 4000, late, accept);

  for (let changed = true; changed && !late(); ) {
    const before = best.length;
    ddmin();
    changed = pairs() || detour() || best.length < before;
  }
  return { path: best, loopFree: loopFreeLen, replays: rp.replays, timedOut };
}

/**
 * From each state of `best`, a breadth-first search of at most `depth`
 * steps (and `maxStates` states) over the packed successors: a state that
 * is a later state of the path (more than its depth further on), or one
 * where the target fails, gives a shorter path. The first gain found is
 * kept (through `accept`, which replays it). true: the path got shorter.
 */
function detours(
  model: CompiledModel,
  batch: Batch,
  rp: Replayer,
  best: readonly number[],
  target: Target,
  depth: number,
  maxStates: number,
  late: () => boolean,
  accept: (cand: readonly number[]) => boolean,
): boolean {
  const { layout } = model;
  const W = layout.words;
  const states: Uint32Array[] = [];
  if (rp.test(best, states) !== best.length) return false;
  const index = new Map<string, number>();
  states.forEach((w, i) => index.set(keyOf(w), i));
  const view = layout.makeView();
  const inv = target.kind === 'invariant' ? model.allInvariants.find((i) => i.name === target.name) : undefined;
  const L = best.length;
  for (let i = 0; i < L - 1 && !late(); i++) {
    // BFS from states[i]: packed states, parent links, instance taken.
    const pool: Uint32Array[] = [states[i]!];
    const parent: number[] = [-1];
    const via: number[] = [-1];
    const dist: number[] = [0];
    const seen = new Set<string>([keyOf(states[i]!)]);
    const pathTo = (x: number): number[] => {
      const acts: number[] = [];
      for (let c = x; parent[c]! >= 0; c = parent[c]!) acts.push(via[c]!);
      return acts.reverse();
    };
    for (let q = 0; q < pool.length && pool.length < maxStates; q++) {
      const d = dist[q]!;
      if (d >= depth) continue;
      // Only a detour shorter than what it replaces is worth it: to a state
      // j, d+1 < j - i; to a violation, i + d + 1 < L.
      if (i + d + 1 >= L) continue;
      const n = batch.expand(pool[q]!, 0, 1, 0);
      if (n === 0 && target.kind === 'deadlock' && q > 0) {
        layout.unpack(pool[q]!, 0, view);
        if (!(model.machine.endState && model.machine.endState(view)) && accept([...best.slice(0, i), ...pathTo(q)])) return true;
      }
      const succ: { w: Uint32Array; k: number }[] = [];
      for (let r = 0; r < n; r++) succ.push({ w: batch.out.slice(r * W, r * W + W), k: batch.ks[r]! });
      for (const { w, k } of succ) {
        const key = keyOf(w);
        if (seen.has(key)) continue;
        seen.add(key);
        const x = pool.length;
        pool.push(w);
        parent.push(q);
        via.push(k);
        dist.push(d + 1);
        const j = index.get(key);
        if (j !== undefined && j > i + d + 1 && accept([...best.slice(0, i), ...pathTo(x), ...best.slice(j)])) return true;
        if (inv) {
          layout.unpack(w, 0, view);
          let fails: boolean;
          try {
            fails = !inv.holds(view);
          } catch {
            fails = false;
          }
          if (fails && accept([...best.slice(0, i), ...pathTo(x)])) return true;
        }
      }
    }
  }
  return false;
}

/** The violation as the BFS checker reports it: the trace replayed from the initial state (trace.ts), the reason from explain(). */
export function violationOf(model: CompiledModel, path: readonly number[], target: Target): Violation {
  const { steps, last } = replayInstances(model, path);
  let reason: string;
  if (target.kind === 'deadlock') reason = 'no action is enabled and this is not a valid end state';
  else {
    const inv = model.allInvariants.find((i) => i.name === target.name)!;
    try {
      reason = inv.explain ? inv.explain(last) : (inv.doc?.split('\n')[0] ?? `${inv.name} is false`);
    } catch (e) {
      reason = `(explain() threw: ${(e as Error).message})`;
    }
  }
  return { invariant: target.name, kind: target.kind, reason, trace: steps };
}

// ---------------------------------------------------------------- the command

export interface SimulateFlags {
  set: string[];
  seed?: number;
  steps?: number;
  runs?: number;
  /** Seconds. */
  timeLimit?: number;
  json?: boolean;
  quiet?: boolean;
  traceOut?: string;
  invariant: string[];
}

export interface SimulateIo {
  out(s: string): void;
  err(s: string): void;
  isTTY: boolean;
}

/** Steps per walk without --steps. */
export const DEFAULT_STEPS = 100;
/** Seconds of walks without --runs or --time-limit. */
export const DEFAULT_TIME_LIMIT = 10;

/** --seed: an integer from 0 to 2^32-1, decimal or hex (for the commander option). */
export function parseSeed(v: string): number {
  const n = /^(0x[0-9a-f]+|\d+)$/i.test(v.trim()) ? Number(v.trim()) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new UsageError(`--seed must be an integer from 0 to ${0xffffffff}, got ${JSON.stringify(v)}`);
  return n;
}

/**
 * The `simulate` subcommand: exit 1 on a violation, 3 when none was found
 * (never 0: random walks prove nothing), 2 on a usage or model error (thrown:
 * the caller prints it on one line) or a --trace-out file that could not be written.
 */
export async function runSimulate(file: string, flags: SimulateFlags, io: SimulateIo, signal?: AbortSignal): Promise<number> {
  // cli.ts imports this file: a dynamic import keeps the cycle out of module loading.
  const { parseSets } = await import('./cli.js');
  const intFlag = (name: string, v: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max)) throw new UsageError(`${name} must be an integer from ${min} to ${max}, got ${v}`);
  };
  intFlag('--seed', flags.seed, 0, 0xffffffff);
  intFlag('--steps', flags.steps, 1, MAX_STEPS);
  intFlag('--runs', flags.runs, 1);
  if (flags.timeLimit !== undefined && !(flags.timeLimit > 0)) throw new UsageError(`--time-limit must be a positive number of seconds, got ${flags.timeLimit}`);
  const def = await loadModel(file);
  let model: CompiledModel;
  try {
    model = instantiate(def, parseSets(def, flags.set ?? []), { invariants: flags.invariant ?? [] });
  } catch (e) {
    if (e instanceof ModelError && !e.message.startsWith(file)) throw new ModelError(`${file}: ${e.message}`);
    throw e;
  }
  if (flags.traceOut) checkWritable(flags.traceOut, '--trace-out file');
  const seed = flags.seed ?? (Math.random() * 2 ** 32) >>> 0;
  const steps = flags.steps ?? DEFAULT_STEPS;
  const timeLimitMs = flags.timeLimit !== undefined ? flags.timeLimit * 1000 : flags.runs === undefined ? DEFAULT_TIME_LIMIT * 1000 : undefined;
  const showProgress = io.isTTY && !flags.json && !flags.quiet;
  let lastLen = 0;
  const t0 = performance.now();
  let r: SimulateResult;
  try {
    r = await simulateAsync(model, {
      seed,
      steps,
      runs: flags.runs,
      timeLimitMs,
      signal,
      progressIntervalMs: 100,
      onProgress: showProgress
        ? (p) => {
            const line = `  ${fmtCount(p.walks)} walks  ${fmtCount(p.steps)} steps  ${fmtCount(p.distinctStates)} distinct states  ${((performance.now() - t0) / 1000).toFixed(1)} s`;
            io.err(`\r${line.padEnd(lastLen)}`);
            lastLen = line.length;
          }
        : undefined,
    });
  } catch (e) {
    if (e instanceof ModelError && !e.message.startsWith(file)) throw new ModelError(`${file}: ${e.message}`);
    throw e;
  }
  if (showProgress && lastLen) io.err(`\r${' '.repeat(lastLen)}\r`);
  let writeFailure: string | undefined;
  const v = r.violations[0];
  if (flags.traceOut && v) {
    try {
      writeFileMkdir(flags.traceOut, compactJson(traceDoc(model, v, { modelFile: file, warnings: r.warnings })) + '\n');
    } catch (e) {
      writeFailure = (e as Error).message;
    }
  }
  if (flags.json) io.out(JSON.stringify(simulateJson(r, file)) + '\n');
  else io.out(simulateText(r) + '\n');
  // --quiet keeps the warnings that change what was searched (tables switched off).
  if (!flags.json) for (const w of r.warnings) if (!flags.quiet || !isCoverageWarning(w)) io.out(`warning: ${w}\n`);
  if (writeFailure) io.err(`tlbcheck: ${writeFailure}\n`);
  return writeFailure ? 2 : r.verdict === 'violated' ? 1 : 3;
}

const isCoverageWarning = (w: string) => / on any walk$|^invariant \S+ was never at stake/.test(w);

/** The --json document (`tlbcheck replay` reads its violations like a check result's). */
export function simulateJson(r: SimulateResult, modelFile: string): Record<string, unknown> {
  const violations = r.violations.map((v) => ({ ...v, trace: v.trace.map((st) => ({ ...st, cpu: st.cpu ?? null })) }));
  return { version: 1, modelFile, ...r, violations };
}

/** Header, race diagram, how it was found, the summary line and the verdict. */
export function simulateText(r: SimulateResult): string {
  const params = Object.entries(r.params)
    .map(([k, x]) => `${k}=${x}`)
    .join(' ');
  const lines = [`model ${r.model}${params ? ` (${params})` : ''}: random walks, seed ${r.seed}, at most ${fmtCount(r.maxSteps)} steps each`];
  const v = r.violations[0];
  if (v && r.found) {
    const f = r.found;
    lines.push('', raceDiagram(v), '');
    lines.push(
      `found by walk ${fmtCount(f.walk + 1)} after ${fmtCount(f.walkSteps)} steps; shrunk to ${fmtCount(f.steps)} ` +
        `(${fmtCount(f.loopFreeSteps)} without loops; ${fmtCount(f.replays)} replays, ${(f.shrinkMs / 1000).toFixed(2)} s${f.shrinkTimedOut ? ', stopped by the shrink time budget' : ''})`,
    );
  }
  const secs = (r.elapsedMs / 1000).toFixed(2);
  lines.push(
    `${r.model}: ${fmtCount(r.walks)} walks, ${fmtCount(r.steps)} steps, ${secs} s, ${fmtCount(Math.round(r.walksPerSec))} walks/s, ` +
      `${fmtCount(Math.round(r.stepsPerSec))} steps/s, ${r.distinctSaturated ? '≥ ' : ''}${fmtCount(r.distinctStates)} distinct states, seed ${r.seed}`,
  );
  if (r.verdict === 'violated') lines.push(`verdict: violated — ${r.violations.map((x) => x.invariant).join(', ')}`);
  else
    lines.push(
      `verdict: no violation found in ${fmtCount(r.walks)} walk${r.walks === 1 ? '' : 's'} (not a proof)` +
        (r.limit === 'interrupted' ? '; interrupted by a signal' : r.limit === 'time-limit' ? '; stopped by the time limit' : ''),
    );
  return lines.join('\n');
}
