/**
 * Explicit-state breadth-first exploration.
 *
 * States get ids in discovery order, so a level is a contiguous id interval;
 * the frontier (the level being expanded and the next one) is kept as packed
 * states beside the visited set. Every new state (the initial one too) is
 * checked against the invariants; the first violation of each
 * invariant is therefore reached by a shortest path, rebuilt afterwards from
 * parent links by replaying the recorded action instances (trace.ts).
 */
import type { CompiledModel } from './compile.js';
import type { StoreChoice } from './model.js';
import { ModelError } from './compile.js';
import { createExactStore, HASH_SEED, Kept, type StateStore } from './store.js';
import { createTreeStore } from './tree-store.js';
import type { StateDecl, View } from './types.js';
import os from 'node:os';
import { AsymmetryFault, makeCanonicalizer, plainIdFields, type SymmetryMode } from './symmetry.js';
import { pathTo } from './trace.js';
import { countPremiseMask, createBatch, RangeFault, ShapeFault } from './batch.js';
import { filterBytesWithin, recentFilterBytesFor } from './recent-filter.js';
// --store fingerprint (issue #6 part 3): see fingerprint-store.ts.
import { createFingerprintStore, omissionProbability, type StoreKind } from './fingerprint-store.js';
import { takeOver, writeCheckpoint, type CheckpointData, type SearchIdentity } from './checkpoint.js';

export interface CheckOptions {
  /** Keep going after the first violation; one shortest trace per violated invariant. */
  all?: boolean;
  maxStates?: number;
  maxDepth?: number;
  timeLimitMs?: number;
  /** Stop (verdict incomplete) before the visited set would grow past this. */
  memoryLimitBytes?: number;
  onProgress?: (p: Progress) => void;
  progressIntervalMs?: number;
  /** Skip deadlock detection. */
  noDeadlock?: boolean;
  /** Symmetry reduction: 'cpu' permutes the CPUs, 'all' every symmetric sort (symmetry.ts). */
  symmetry?: SymmetryMode;
  /** Visited set: full packed states ('exact', default) or 64-bit fingerprints (fingerprint-store.ts). */
  store?: StoreKind;
  /**
   * How the exact store keeps a state: the words inline ('flat', store.ts,
   * the default) or tree-compressed ('tree', tree-store.ts, from three words
   * on: less than half the bytes, up to about 1.5x the time per state once
   * its node table outgrows the caches). Both give the same search
   * (`--store compact` in the CLI).
   */
  exactStore?: 'tree' | 'flat';
  /** States expanded through the views before the tabulated successor function takes over (batch.ts; Infinity = never). */
  tabulateAfter?: number;
  /** Stop (limit 'interrupted', verdict incomplete) soon after this is aborted: Ctrl-C in the CLI. */
  signal?: AbortSignal;
  /** Save the search to `file` every `everyMs` and when a time limit or a signal stops it (checkpoint.ts). */
  checkpoint?: { file: string; everyMs: number };
  /** Go on from a checkpoint of the same search (readCheckpoint); its identity is checked. */
  resume?: CheckpointData;
  /** Also check the model's liveness properties (check.ts, on the explicit graph: check-liveness.ts); not the explorer's. */
  liveness?: boolean;
}

export interface Progress {
  states: number;
  transitions: number;
  depth: number;
  queue: number;
  elapsedMs: number;
  statesPerSec: number;
  /** The visited set, the recent filter and the frontier. */
  memoryBytes: number;
  /** The process's resident set size, and the limit it is held to (0 = none). */
  rssBytes: number;
  memoryLimitBytes: number;
}

export type LimitHit = 'max-states' | 'max-depth' | 'time-limit' | 'memory' | 'interrupted';

export interface RawViolation {
  /** Invariant name, or 'deadlock'. */
  readonly name: string;
  readonly kind: 'invariant' | 'deadlock';
  readonly stateId: number;
  /** Found by a multi-core run (or before a checkpoint it wrote): which of a level's violating states it names depends on timing (check.ts re-derives the report). */
  readonly multiCore?: true;
}

export interface Exploration {
  readonly store: StateStore;
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly elapsedMs: number;
  readonly violations: RawViolation[];
  readonly limit: LimitHit | undefined;
  /** Per action instance: fired at least once. */
  readonly fired: Uint8Array;
  /** Per invariant (in model.invariants order): states where its premise held (-1 = no premise). */
  readonly premiseCounts: number[];
  readonly storeBytes: number;
  /** Sorts permuted by symmetry reduction (empty = none). */
  readonly symmetrySorts?: readonly string[];
  /** Set when symmetry was asked for but the model turned out not to be symmetric. */
  readonly symmetryNote?: string;
  /** Fingerprint store only: estimated probability that a state was missed. */
  readonly omissionProbability?: number;
  /** What changes how to read the run: resumed from a checkpoint, a checkpoint that could not be written. */
  readonly notes?: readonly string[];
  /** States in the last checkpoint this run wrote (none written: undefined). */
  readonly checkpointStates?: number;
}

/**
 * A run in slices: run(until) explores until it is finished (true) or
 * performance.now() reaches `until` (false; call again to go on). The
 * asynchronous driver returns to the event loop between slices, so signals
 * (Ctrl-C) and timers are served during a long run.
 */
export interface ExploreJob {
  run(until: number): boolean;
  result(): Exploration;
}

/** How long a slice of exploreAsync runs before the event loop gets a turn. */
const SLICE_MS = 250;
/**
 * Limits and progress are looked at after every batch, at most every
 * CHECK_MS. A batch is bounded in work (batch.ts: Batch.size), so a limit
 * stops a run within a few milliseconds of being reached, whatever the
 * state size.
 */
const CHECK_MS = 5;

export function explore(model: CompiledModel, opts: CheckOptions = {}): Exploration {
  return withSymmetryFallback(opts, (o) => {
    const job = startExplore(model, o);
    job.run(Infinity);
    return job.result();
  });
}

/** explore(), returning to the event loop every SLICE_MS (opts.signal can stop it from a signal handler). */
export async function exploreAsync(model: CompiledModel, opts: CheckOptions = {}): Promise<Exploration> {
  const once = async (o: CheckOptions): Promise<Exploration> => {
    const job = startExplore(model, o);
    while (!job.run(performance.now() + SLICE_MS)) await new Promise<void>((r) => setImmediate(r));
    return job.result();
  };
  if (!opts.symmetry || opts.symmetry === 'none') return once(opts);
  try {
    return await once(opts);
  } catch (e) {
    if (!(e instanceof AsymmetryFault)) throw e;
    return { ...(await once({ ...opts, symmetry: 'none' })), symmetryNote: `symmetry reduction disabled: ${e.message}` };
  }
}

function withSymmetryFallback(opts: CheckOptions, once: (o: CheckOptions) => Exploration): Exploration {
  if (!opts.symmetry || opts.symmetry === 'none') return once(opts);
  try {
    return once(opts);
  } catch (e) {
    if (!(e instanceof AsymmetryFault)) throw e;
    // The model's behaviour is not invariant under the permutations its
    // types declare (e.g. a CPU id kept in a plain int): reducing would be
    // unsound, so explore the full state space instead and say why.
    const ex = once({ ...opts, symmetry: 'none' });
    return { ...ex, symmetryNote: `symmetry reduction disabled: ${e.message}` };
  }
}

export { AsymmetryFault };

/** The search options of a store choice: compact is the exact store tree-compressed (the same search; checkpoints of either fit the other). */
export function storeOptions(choice: StoreChoice | undefined): Pick<CheckOptions, 'store' | 'exactStore'> {
  return { store: choice === 'fingerprint' ? 'fingerprint' : 'exact', exactStore: choice === 'compact' ? 'tree' : undefined };
}

/** The visited set `opts` ask for (one thread). */
export function createStore(opts: Pick<CheckOptions, 'store' | 'exactStore'>, W: number, hash: (w: Uint32Array, off: number, seed: number) => number, o: { actionCount: number; memoryLimitBytes: number }): StateStore {
  if (opts.store === 'fingerprint') return createFingerprintStore(W, hash, o);
  return W >= 3 && opts.exactStore === 'tree' ? createTreeStore(W, hash, o) : createExactStore(W, hash, o);
}

/** Explicit-state BFS as an ExploreJob (see there). */
export function startExplore(model: CompiledModel, opts: CheckOptions): ExploreJob {
  const t0 = performance.now();
  const { layout, invariants } = model;
  const W = layout.words;
  const nInst = model.instances.length;
  const memoryLimit = opts.memoryLimitBytes ?? defaultMemoryLimit();
  const store = createStore(opts, W, layout.hash, { actionCount: nInst, memoryLimitBytes: memoryLimit });
  const base = layout.makeView();
  const fresh = layout.makeView();
  const bw = new Uint32Array(W);
  const fired = new Uint8Array(nInst);
  const maxStates = opts.maxStates ?? Infinity;
  const maxDepth = opts.maxDepth ?? Infinity;
  const timeLimit = opts.timeLimitMs ?? Infinity;
  const progressEvery = opts.progressIntervalMs ?? 100;
  const endState = model.machine.endState;
  const violations: RawViolation[] = [];
  const violated = new Set<string>();
  const holds = invariants.map((i) => i.holds);
  const premises = invariants.map((i) => i.premise);
  const premiseCounts: number[] = invariants.map((i) => (i.premise ? 0 : -1));
  const anyPremise = premises.some((p) => p);
  const hash = layout.hash;
  const sym = makeCanonicalizer(layout, opts.symmetry ?? 'none');
  let limit: LimitHit | undefined;
  let transitions = 0;
  let depth = 0;

  /** Invariants on a new state; true = stop now. */
  const checkNew = (v: View<StateDecl>, id: number, words: Uint32Array, wo: number): boolean => {
    for (let i = 0; i < holds.length; i++) {
      if (!holds[i]!(v)) {
        const name = invariants[i]!.name;
        if (!violated.has(name)) {
          violated.add(name);
          violations.push({ name, kind: 'invariant', stateId: id });
          store.keep(id, words, wo);
          if (!opts.all) return true;
        }
      }
    }
    if (anyPremise)
      for (let i = 0; i < premises.length; i++) {
        const p = premises[i];
        if (p && p(v)) premiseCounts[i]!++;
      }
    return false;
  };

  const resume = opts.resume;
  let stop = false;
  if (resume) {
    // (The identity first: a table of another layout is never restored. No store's restore() drops kept states.)
    takeOver(resume, searchIdentity(model, opts), { fired, premiseCounts, violations, violated, keep: store.keep });
    store.restore(resume.store);
    transitions = resume.transitions;
    depth = resume.depth;
  } else {
    const init = packInitial(model, bw, 0);
    if (sym) sym.canon(bw, 0, bw, 0);
    store.insert(bw, 0, hash(bw, 0, HASH_SEED), -1, 0);
    try {
      stop = checkNew(init, 0, bw, 0);
    } catch (e) {
      throw diagnoseInvariant(model, init, e) ?? e;
    }
    if (!stop && maxStates <= 1) {
      limit = 'max-states';
      stop = true;
    }
  }

  const batch = createBatch(model, sym, opts.tabulateAfter);
  const { out, ks, hs, dup, ends } = batch;
  const touch = store.touch;

  // The BFS frontier: `cur` holds the level being expanded (ids
  // levelStart..levelStart+curN-1), `next` collects the level after it.
  // Entries are packed states (W words), or the tree store's root pairs
  // (2 words, store.frontier; curPairs/nextPairs), decoded a batch at a time into `words`.
  // The frontier is counted in bytes per state, and its widest level can
  // hold a fifth of all states.
  const cf = store.frontier;
  let curPairs = false;
  let nextPairs = cf?.compact() ?? false;
  const room = (n: number) => Math.max(W, 1024 * W, 2 ** Math.ceil(Math.log2(Math.max(1, n * W))));
  let cur = new Uint32Array(room(resume ? Math.max(resume.curN, resume.nextN) : 1));
  let next = new Uint32Array(cur.length);
  let curN = 1;
  let nextN = 0;
  let levelStart = 0;
  /** The next batch of the level being expanded (where a slice goes on). */
  let b0 = 0;
  /** Ranges [from, to) of the level after b0 expanded already (a multi-core run's checkpoint), and the next one's index. */
  let skip: Int32Array = new Int32Array(0);
  let si = 0;
  if (resume) {
    cur.set(resume.cur);
    next.set(resume.next);
    [curN, nextN, levelStart, b0, skip] = [resume.curN, resume.nextN, resume.levelStart, resume.b0, resume.expanded];
    nextPairs = false; // the checkpoint's levels are packed states
  } else cur.set(bw);
  /** The batch being expanded, as packed states: state j at words[(j - wb) * W]. */
  let words = cur;
  let wb = 0;
  const batchWords = new Uint32Array(W * batch.size);
  /** Entries [0, n) of a pair frontier as packed states. */
  const unpair = (f: Uint32Array, n: number): Uint32Array<ArrayBuffer> => {
    const a = new Uint32Array(Math.max(n, 1024) * W);
    cf!.decode(f, 0, n, a, 0);
    return a;
  };
  // The pairs name nodes a hand-over drops: the frontier becomes packed states first.
  cf?.onHandOver(() => {
    if (curPairs) {
      // The batch under way is already decoded (into batchWords).
      cur = unpair(cur, curN);
      curPairs = false;
    }
    if (nextPairs) {
      next = unpair(next, nextN);
      nextPairs = false;
    }
  });
  /** Search time of earlier sessions (a resumed run). */
  const before = resume?.elapsedMs ?? 0;
  let lastSave = t0;
  /** The last checkpoint: states then, and why the latest attempt failed. */
  let saved: { at: number; error: string | undefined } = { at: -1, error: undefined };
  let frontierPeak = cur.byteLength + next.byteLength;
  let lastProgress = t0;
  let lastCheck = t0;
  let lastRss = -Infinity;
  let j = 0;
  let done = false;
  let elapsedMs = 0;
  /** What was running when something threw: the batch's expansion, the insert loop, or an invariant. */
  let phase: 'expand' | 'insert' | 'invariant' = 'expand';
  const rss = () => process.memoryUsage.rss();

  /** Limits, progress, the recent filter's size: after every batch, at most every CHECK_MS. true = stop. */
  const checkpoint = (now: number): boolean => {
    lastCheck = now;
    // RSS (a /proc read, ~35 µs) at most every 50 ms; the store and the
    // frontier check the budget before they grow.
    let rssOver = false;
    if (memoryLimit > 0 && now - lastRss >= 50) {
      lastRss = now;
      rssOver = rss() > memoryLimit;
    }
    // Fingerprint mode is about memory: it keeps the plain sixteenth.
    batch.fitFilter(
      opts.store === 'fingerprint' ? recentFilterBytesFor(store.stats().bytes) : filterBytesWithin(store.stats().bytes, frontierPeak, store.count()),
    );
    if (store.full() || rssOver) limit = 'memory';
    else if (now - t0 >= timeLimit) limit = 'time-limit';
    else if (opts.signal?.aborted) limit = 'interrupted';
    // Between two batches the search is whole: save it every so often, and
    // when a time limit or a signal stops it (a full store may have dropped
    // states, so a memory stop keeps the last checkpoint instead).
    if (opts.checkpoint && (limit === 'time-limit' || limit === 'interrupted' || (!limit && now - lastSave >= opts.checkpoint.everyMs))) {
      // A checkpoint that cannot be written (disk full) must not end a long search: say so, go on.
      try {
        save(opts.checkpoint.file, now);
        saved = { at: store.count(), error: undefined };
      } catch (e) {
        saved = { at: saved.at, error: `checkpoint ${opts.checkpoint.file} could not be written: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      }
      lastSave = performance.now();
    }
    if (limit) return true;
    if (opts.onProgress && now - lastProgress >= progressEvery) {
      lastProgress = now;
      const el = now - t0;
      opts.onProgress({
        states: store.count(),
        transitions,
        depth,
        queue: curN - b0 + nextN,
        elapsedMs: el,
        statesPerSec: (store.count() / el) * 1000,
        memoryBytes: store.stats().bytes + batch.filterBytes() + cur.byteLength + next.byteLength,
        rssBytes: rss(),
        memoryLimitBytes: memoryLimit,
      });
    }
    return false;
  };

  const save = (file: string, now: number) => {
    const words = new Uint32Array(violations.length * W);
    violations.forEach((v, i) => words.set(store.table().subarray(store.offsetOf(v.stateId), store.offsetOf(v.stateId) + W), i * W));
    writeCheckpoint(file, {
      identity: searchIdentity(model, opts),
      words: W,
      store: store.snapshot(),
      // A checkpoint's levels are packed states, whichever store wrote it.
      cur: curPairs ? unpair(cur, curN) : cur,
      curN,
      next: nextPairs ? unpair(next, nextN) : next,
      nextN,
      levelStart,
      b0,
      expanded: skip.slice(si),
      depth,
      transitions,
      elapsedMs: before + (now - t0),
      fired,
      premiseCounts,
      violations,
      violationWords: words,
    });
  };

  const run = (until: number): boolean => {
    if (done) return true;
    try {
      level: while (!stop) {
        while (b0 < curN) {
          if (si < skip.length && b0 >= skip[si]!) {
            b0 = Math.max(b0, skip[si + 1]!);
            si += 2;
            continue;
          }
          const b1 = Math.min(curN, b0 + batch.size, si < skip.length ? skip[si]! : curN);
          if (!curPairs) [words, wb] = [cur, 0];
          else {
            cf!.decode(cur, b0 * 2, b1 - b0, batchWords, 0);
            [words, wb] = [batchWords, b0];
          }
          // 1. Expand the batch into one buffer; 2. hash the successors, drop
          // recent duplicates, touch the others' home slots (batch.ts).
          phase = 'expand';
          const total = batch.expand(words, b0 - wb, b1 - wb, levelStart + wb);
          batch.prepareLookups(total, touch);
          store.prepare?.(out, dup, total);
          // 3. Insert in order: ids stay in BFS discovery order.
          phase = 'insert';
          let i = 0;
          for (j = b0; j < b1; j++) {
            const id = levelStart + j;
            const e = ends[j - b0]!;
            if (i === e) {
              if (!opts.noDeadlock && !violated.has('deadlock')) {
                layout.unpack(words, (j - wb) * W, base);
                if (!(endState && endState(base))) {
                  violated.add('deadlock');
                  violations.push({ name: 'deadlock', kind: 'deadlock', stateId: id });
                  store.keep(id, words, (j - wb) * W);
                  if (!opts.all) {
                    stop = true;
                    break level;
                  }
                }
              }
              continue;
            }
            transitions += e - i;
            for (; i < e; i++) {
              const k = ks[i]!;
              fired[k] = 1;
              if (dup[i] === 1) continue;
              const nid = store.insert(out, i * W, hs[i]!, id, k);
              if (nid < 0) continue;
              if (depth >= maxDepth) {
                limit = 'max-depth';
                stop = true;
                break level;
              }
              if ((nextN + 1) * (nextPairs ? 2 : W) > next.length) {
                // Growing the frontier (by half: it is counted in bytes per
                // state, and the widest level is a good part of the run) must
                // fit the budget too.
                const grown = Math.max(next.length + 1024 * W, Math.ceil((next.length * 1.5) / W) * W);
                if (memoryLimit > 0 && rss() + grown * 4 > memoryLimit) {
                  limit = 'memory';
                  stop = true;
                  break level;
                }
                const nn = new Uint32Array(grown);
                nn.set(next);
                next = nn;
                frontierPeak = Math.max(frontierPeak, cur.byteLength + next.byteLength);
              }
              if (nextPairs) cf!.entryOfLast(next, nextN * 2);
              else for (let k2 = 0, no = nextN * W; k2 < W; k2++) next[no + k2] = out[i * W + k2]!;
              nextN++;
              // The tabulated invariants answer most states; the views decide
              // the rest (and name a violated invariant).
              const pm = batch.invariantsHold(out, i * W);
              if (pm < 0) {
                layout.unpack(out, i * W, fresh);
                phase = 'invariant';
                if (checkNew(fresh, nid, out, i * W)) {
                  stop = true;
                  break level;
                }
                phase = 'insert';
              } else if (pm !== 0) countPremiseMask(pm, premiseCounts);
              if (nid + 1 >= maxStates) {
                limit = 'max-states';
                stop = true;
                break level;
              }
            }
          }
          b0 = b1;
          const now = performance.now();
          if (now - lastCheck >= CHECK_MS || now >= until || store.full()) {
            if (checkpoint(now)) {
              stop = true;
              break level;
            }
            if (now >= until) return false;
          }
        }
        if (nextN === 0) break;
        depth++;
        levelStart += curN;
        const t = cur;
        cur = next;
        next = t; // grows as the next level needs
        curPairs = nextPairs;
        nextPairs = cf?.compact() ?? false;
        curN = nextN;
        nextN = 0;
        b0 = 0;
        skip = new Int32Array(0);
        si = 0;
        frontierPeak = Math.max(frontierPeak, cur.byteLength + next.byteLength);
      }
    } catch (e) {
      done = true;
      // Not a model error: explore() answers it by exploring without reduction.
      if (e instanceof AsymmetryFault) throw e;
      // The state being expanded (or whose successor was being checked).
      const at = phase === 'expand' ? batch.at : j;
      for (let k = 0; k < W; k++) bw[k] = words[(at - (phase === 'expand' ? 0 : wb)) * W + k]!;
      if (e instanceof RangeFault) {
        const inst = model.instances[e.instance]!;
        layout.unpack(bw, 0, base);
        const bad = model.apply(base, e.instance);
        throw new ModelError(
          `action ${inst.action}(${inst.args.join(',')}) wrote ${layout.leaves[e.leaf]!.path} = ${fmt(readPath(bad, e.leaf, model))}, outside its declared range; ` +
            `state before: ${JSON.stringify(layout.toPlain(base))}`,
        );
      }
      if (phase === 'invariant') throw diagnoseInvariant(model, fresh, e) ?? e;
      if (e instanceof ShapeFault) throw shapeCulprit(model);
      layout.unpack(bw, 0, base);
      throw diagnose(model, base, e);
    }
    done = true;
    elapsedMs = before + performance.now() - t0;
    return true;
  };

  const result = (): Exploration => {
    if (!done) throw new Error('exploration not finished');
    const levelEnd = levelStart + curN;
    return {
      store: sym && violations.length ? realPaths(model, store, violations, sym.canon) : store,
      symmetrySorts: sym ? sym.sorts : [],
      // With --max-depth, states deeper than the limit are not reported.
      states: limit === 'max-depth' ? levelEnd : store.count(),
      transitions,
      depth: limit !== 'max-depth' && store.count() > levelEnd ? depth + 1 : depth,
      elapsedMs,
      violations,
      limit,
      fired,
      premiseCounts,
      storeBytes: store.stats().bytes + batch.filterBytes() + frontierPeak,
      omissionProbability: opts.store === 'fingerprint' ? omissionProbability(store.count()) : undefined,
      notes: [
        ...(opts.symmetry && opts.symmetry !== 'none' && !sym
          ? [`symmetry reduction not applied: the model has no symmetric ${opts.symmetry === 'cpu' ? 'cpu sort' : 'sort'} (a sort declared { symmetric: false } is never permuted); this is the full state space`]
          : []),
        ...(resume ? [`resumed from a checkpoint at ${resume.store.count.toLocaleString('en-US')} states`] : []),
        ...(saved.error ? [saved.error] : []),
      ],
      checkpointStates: saved.at >= 0 ? saved.at : undefined,
    };
  };
  return { run, result };
}

/** What a checkpoint must match to resume this search (checkpoint.ts). */
export function searchIdentity(model: CompiledModel, opts: CheckOptions): SearchIdentity {
  const { layout } = model;
  return {
    model: model.def.name,
    params: model.params,
    layout: `${layout.words}:${layout.leaves.map((l) => `${l.path}/${l.word}.${l.shift}.${l.bits}.${l.lo}.${l.max}`).join(',')}`,
    store: opts.store ?? 'exact',
    symmetry: opts.symmetry ?? 'none',
    all: opts.all === true,
    noDeadlock: opts.noDeadlock === true,
  };
}

/** Default memory budget: 75% of the machine's RAM. */
export function defaultMemoryLimit(): number {
  return Math.floor(os.totalmem() * 0.75);
}

/**
 * Under symmetry the parent links join canonical representatives, and the
 * recorded action instances were applied to those. Rebuild, for each
 * violation, a real path from the initial state: replay the canonical chain
 * and at each step pick an enabled instance of the real state whose
 * successor has the same canonical form. The returned store answers
 * parentOf/actionOf/table/offsetOf for those paths (trace.ts reads them).
 */
export function realPaths(
  model: CompiledModel,
  store: StateStore,
  violations: RawViolation[],
  canon: (src: Uint32Array, so: number, dst: Uint32Array, dof: number) => void,
): StateStore {
  const { layout } = model;
  const W = layout.words;
  const links = new Map<number, { parent: number; action: number }>();
  const kept = new Kept(W);
  let nextId = 2 ** 40;
  const a = new Uint32Array(W);
  const b = new Uint32Array(W);
  const canonOf = (v: View<StateDecl>, out: Uint32Array) => {
    layout.pack(v, out, 0);
    canon(out, 0, out, 0);
  };
  for (const v of violations) {
    const acts = pathTo(store, v.stateId);
    // The canonical chain: each recorded instance was applied to the stored
    // (canonical) state, so canonicalise after every step.
    let c = layout.makeView();
    canonOf(model.initial(), a);
    layout.unpack(a, 0, c);
    let r = model.initial();
    let prev = nextId++;
    links.set(prev, { parent: -1, action: 0 });
    acts.forEach((k, step) => {
      canonOf(model.apply(c, k), a);
      c = layout.makeView();
      layout.unpack(a, 0, c);
      let found = -1;
      for (const inst of model.instances) {
        if (!model.enabled(r, inst.id)) continue;
        canonOf(model.apply(r, inst.id), b);
        if (b.every((x, i) => x === a[i])) {
          found = inst.id;
          break;
        }
      }
      if (found < 0) throw new AsymmetryFault('the model is not symmetric (a reduced counterexample has no real counterpart)');
      r = model.apply(r, found);
      const id = step === acts.length - 1 ? v.stateId : nextId++;
      links.set(id, { parent: prev, action: found });
      prev = id;
    });
    if (acts.length === 0) links.set(v.stateId, { parent: -1, action: 0 });
    // The violation was seen on a canonical representative; it must be a
    // violation of the real state too, or the invariant (or the end-state
    // test) is not invariant under the permutation.
    const real =
      v.kind === 'deadlock'
        ? !(model.machine.endState && model.machine.endState(r)) && model.instances.every((inst) => !model.enabled(r, inst.id))
        : !model.invariants.find((i) => i.name === v.name)!.holds(r);
    if (!real) throw new AsymmetryFault(`the model is not symmetric (${v.name} fails on a reduced state but not on the real state it stands for)${plainCpuFieldsHint(model)}`);
    layout.pack(r, a, 0);
    kept.keep(v.stateId, a, 0);
  }
  return {
    ...store,
    keep: () => {},
    table: () => kept.table(),
    offsetOf: (id) => kept.offsetOf(id),
    parentOf: (id) => links.get(id)?.parent ?? -1,
    actionOf: (id) => links.get(id)?.action ?? 0,
  };
}

/** "; fields that may hold a CPU id in a plain int: a, b": what usually breaks symmetry. */
function plainCpuFieldsHint(model: CompiledModel): string {
  const cpu = model.layout.leaves.flatMap((l) => l.indexSorts).find((s) => s?.role === 'cpu');
  if (!cpu) return '';
  const fields = plainIdFields(model.layout, cpu.size);
  return fields.length ? `; plain int fields that may hold a ${cpu.name} id (declare them ref(${cpu.name})): ${fields.join(', ')}` : '';
}

/**
 * The initial state, as a view and packed at out[off..]; init() throwing or
 * leaving a field out of its range is a ModelError naming it.
 */
export function packInitial(model: CompiledModel, out: Uint32Array, off: number): View<StateDecl> {
  let init: View<StateDecl>;
  try {
    init = model.initial();
  } catch (e) {
    throw new ModelError(`init() threw: ${errText(e)}`);
  }
  const r = model.layout.pack(init, out, off);
  if (r >= 0) throw new ModelError(`initial state: ${model.layout.leaves[r]!.path} = ${fmt(readPath(init, r, model))} is outside its declared range`);
  return init;
}

/** An exception as a message for a model error ("TypeError: x is undefined"). */
export function errText(e: unknown): string {
  return e instanceof Error ? `${e.name === 'Error' ? '' : e.name + ': '}${e.message}` : String(e);
}

function fmt(x: unknown): string {
  return typeof x === 'string' ? JSON.stringify(x) : String(x);
}

function readPath(v: View<StateDecl>, leaf: number, model: CompiledModel): unknown {
  const l = model.layout.leaves[leaf]!;
  let x: unknown = (v as Record<string, unknown>)[l.field];
  for (const i of l.indices) x = (x as unknown[] | undefined)?.[i];
  return x;
}

/** Find an action whose effect replaces an array of the state instead of writing its elements. */
function shapeCulprit(model: CompiledModel): ModelError {
  const { layout } = model;
  const s0 = model.initial();
  for (const inst of model.instances) {
    const v = layout.makeView();
    layout.copy(s0, v);
    const before = layout.containers(v);
    try {
      model.machine.actions[inst.action]!.effect(v, ...inst.args);
    } catch {
      continue;
    }
    const after = layout.containers(v);
    if (after.length !== before.length || after.some((x, i) => x !== before[i]))
      return new ModelError(`effect of ${inst.action}(${inst.args.join(',')}) replaces an array of the state; assign elements instead (e.g. s.tlb[c][p] = x, or s.tlb[c].fill(x))`);
  }
  return new ModelError('an effect replaced an array of the state instead of assigning its elements');
}

/** Re-run the state's instances one by one to name the guard, effect or invariant that threw. */
function diagnose(model: CompiledModel, base: View<StateDecl>, e: unknown): Error {
  if (e instanceof ModelError) return e;
  const state = JSON.stringify(model.layout.toPlain(base));
  for (const inst of model.instances) {
    const label = `${inst.action}(${inst.args.join(',')})`;
    let en = false;
    try {
      en = model.enabled(base, inst.id);
    } catch (err) {
      return new ModelError(`guard of ${label} threw ${errText(err)}; state: ${state}`);
    }
    if (!en) continue;
    let next: View<StateDecl>;
    try {
      next = model.apply(base, inst.id);
    } catch (err) {
      return new ModelError(`effect of ${label} threw ${errText(err)}; state: ${state}`);
    }
    const d = diagnoseInvariant(model, next, undefined);
    if (d) return new ModelError(`${d.message} (reached by ${label})`);
  }
  try {
    model.machine.endState?.(base);
  } catch (err) {
    return new ModelError(`endState() threw ${errText(err)}; state: ${state}`);
  }
  return new ModelError(`model threw ${errText(e)} while expanding state ${state}`);
}

function diagnoseInvariant(model: CompiledModel, s: View<StateDecl>, e: unknown): ModelError | undefined {
  for (const inv of model.invariants) {
    try {
      inv.holds(s);
      inv.premise?.(s);
    } catch (err) {
      return new ModelError(`invariant ${inv.name} threw ${errText(err)}; state: ${JSON.stringify(model.layout.toPlain(s))}`);
    }
  }
  return e === undefined ? undefined : new ModelError(`model threw ${errText(e)}`);
}
