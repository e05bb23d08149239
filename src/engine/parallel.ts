/**
 * Multi-core exploration (`--workers N`, issue #6 part 4): level-synchronous
 * breadth-first search by N participants, this thread and N-1
 * worker_threads, over shared memory:
 *
 *   table     the visited set, a lock-free linear-probing table in a
 *             SharedArrayBuffer (shared-table.ts), full states or 64-bit
 *             fingerprints (--store);
 *   cur       the level being expanded, packed states, read-only;
 *   segments  one per participant: the new states it found (packed), with
 *             their parent ids and action instances;
 *   ctrl      a few Int32 control words (parallel-protocol.ts).
 *
 * The level is split into one contiguous range per participant; each claims
 * chunks of its own range with Atomics.add (large at first, smaller toward
 * the range's end: claimSize), then helps with the others' ranges
 * (claimNext), and expands them with
 * the same generated code as the single-threaded explorer
 * (parallel-round.ts). A state is new for exactly one participant (the CAS
 * in the table decides), which appends it to its own segment, so there is
 * no shared append cursor and no false sharing on the next level. When the
 * level is done, this thread concatenates the segments into the next `cur`
 * and files their parent links under ids levelEnd.., in participant order.
 *
 * Because a level is complete before the next starts, every state is found
 * at its BFS depth: the state count, transition count and depth equal a
 * single-threaded run's, and a violation is reported at the same (minimal)
 * depth. Within a level the reported violation is the one first in
 * single-threaded order among those found (keys in parallel-protocol.ts);
 * only its parent may differ.
 *
 * Tables never grow under a running participant: before each round this
 * thread reserves headroom for every chunk that can be in flight
 * (2 × participants × the round's largest claim × instances successors);
 * a participant that sees the headroom threatened sets PAUSE, all end the
 * round after their current batch (keeping the rest of their claim for the
 * next round), and the table is rehashed into a
 * bigger one by all participants at once, each into its own region of it
 * (or a segment is enlarged). Growth beyond the memory budget ends the run
 * with limit 'memory' (verdict incomplete), as does process RSS above the
 * budget.
 *
 * Worker threads load the model file themselves (~350 ms here; the CLI
 * starts them before anything else loads: worker-threads.mjs): rounds run
 * with the participants that are ready, so this thread explores the first
 * (small) levels while they start.
 *
 * Checkpoints (--checkpoint, --resume) are taken between two rounds and
 * written in the one-thread format (parallel-checkpoint.ts converts the
 * table): the states of the level not expanded yet are the unclaimed ends
 * of the ranges and the rest of each paused claim, saved as the ranges of
 * the level already expanded. A resumed level expands only what is left,
 * as a compact work list whose indices map back to the level's ids
 * (realId), after the next-level states the checkpoint already had.
 *
 * Errors in the model (a guard, effect or invariant that throws, a value out
 * of range, a replaced array) stop the round; this thread then re-runs the
 * model single-threaded, which names the action, arguments and state exactly
 * as a single-threaded run does. Symmetry reduction works as in explore.ts
 * (each participant canonicalises and samples the model's invariance; an
 * asymmetric model falls back to a full search).
 */
import { Worker } from 'node:worker_threads';
import { BOOT, roomForWorkers, type WorkerThreads } from './worker-threads.mjs';
import type { CompiledModel } from './compile.js';
import { ModelError } from './compile.js';
import { AsymmetryFault, defaultMemoryLimit, explore, realPaths, searchIdentity, type CheckOptions, type Exploration, type LimitHit, type RawViolation } from './explore.js';
import { takeOver, writeCheckpoint } from './checkpoint.js';
import { expandedOf, flatToShared, pendingOf, sharedToFlat } from './parallel-checkpoint.js';
import { fpGrow, omissionProbability, type StoreKind } from './fingerprint-store.js';
import { actionArray, Chunked, HASH_SEED, Links, type StateStore } from './store.js';
import { createSharedTable, finishRehash, loadPolicy, slotFormat, slotWords } from './shared-table.js';
import { makeCanonicalizer } from './symmetry.js';
import { prefault } from './prefault.js';
import { createParticipant } from './parallel-round.js';
import {
  actionBytes,
  actionView,
  chunkFor,
  claimSize,
  Ctl,
  ctlWords,
  LimitCode,
  MIN_CHUNK,
  rangeStart,
  resetRanges,
  unclaimed,
  type DoneMsg,
  type InitMsg,
  type ModelSource,
  type ParticipantOptions,
  type RehashMsg,
  type RunMsg,
  type Segment,
  type WorkerViolation,
} from './parallel-protocol.js';

export type { ModelSource } from './parallel-protocol.js';
export { WorkerThreads } from './worker-threads.mjs';

export interface ParallelOptions extends CheckOptions {
  /** Participants: this thread and workers-1 worker threads (1 = the same algorithm on this thread alone). */
  workers: number;
  /** Where worker threads load the model from (they build their own copy). */
  source: ModelSource;
  /** Start exploring only once every worker thread has loaded the model (tests; default: start at once). */
  waitForWorkers?: boolean;
  /** Most states a participant claims at once (default chunkFor(instances)). */
  chunk?: number;
  /** Worker threads started before the model was loaded here (the first run takes them). */
  threads?: WorkerThreads;
}

const LIMITS: Record<number, LimitHit> = {
  [LimitCode.MAX_STATES]: 'max-states',
  [LimitCode.MAX_DEPTH]: 'max-depth',
  [LimitCode.TIME]: 'time-limit',
  [LimitCode.MEMORY]: 'memory',
};
/** With opts.signal: how long this thread's part of a round runs before the event loop gets a turn. */
const SLICE_MS = 50;

export async function exploreParallel(model: CompiledModel, opts: ParallelOptions): Promise<Exploration> {
  if (!opts.symmetry || opts.symmetry === 'none') return run(model, opts);
  try {
    return await run(model, opts);
  } catch (e) {
    if (!(e instanceof AsymmetryFault)) throw e;
    const ex = await run(model, { ...opts, symmetry: 'none' });
    return { ...ex, symmetryNote: `symmetry reduction disabled: ${e.message}` };
  }
}

/** The worker threads: each loads the model, says 'ready', then answers one message per request. */
class Pool {
  private readonly workers: Worker[] = [];
  private readonly isReady: boolean[] = [];
  private readonly pending: ({ resolve: (m: unknown) => void; reject: (e: Error) => void } | undefined)[] = [];
  fatal: string | undefined;
  failure: Error | undefined;
  /** `early`: threads started before (WorkerThreads.take), used first. */
  constructor(n: number, init: InitMsg, early: { worker: Worker; failure: Error | undefined }[] = []) {
    roomForWorkers(n);
    for (let i = 0; i < n; i++) {
      const w = early[i]?.worker ?? new Worker(BOOT);
      if (early[i]?.failure) this.failure ??= early[i]!.failure;
      this.isReady.push(false);
      w.on('message', (m: { type: string; message?: string }) => {
        if (m.type === 'ready') this.isReady[i] = true;
        else if (m.type === 'fatal') this.fatal ??= m.message;
        else {
          const p = this.pending[i];
          this.pending[i] = undefined;
          p?.resolve(m);
        }
      });
      const fail = (e: Error) => {
        this.failure ??= e;
        const p = this.pending[i];
        this.pending[i] = undefined;
        p?.reject(e);
      };
      w.on('error', fail);
      w.on('exit', (code) => fail(new Error(`worker thread ${i + 1} exited with code ${code}`)));
      w.postMessage(init);
      this.workers.push(w);
    }
  }
  /** Indices of the workers that have loaded the model. */
  ready(): number[] {
    return this.isReady.flatMap((r, i) => (r ? [i] : []));
  }
  call<T>(i: number, msg: unknown): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<T>((resolve, reject) => {
      this.pending[i] = { resolve: resolve as (m: unknown) => void, reject };
      this.workers[i]!.postMessage(msg);
    });
  }
  async close(): Promise<void> {
    for (const w of this.workers) w.removeAllListeners('exit');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** ch[base + i] = src[i] for every i, copied chunk by chunk (the coordinator files a level's links while participants wait). */
function fileLinks(ch: Chunked, base: number, src: Int32Array | Uint8Array | Uint16Array | Uint32Array): void {
  const n = src.length;
  if (n === 0) return;
  ch.set(base + n - 1, src[n - 1]!); // allocates every chunk up to there
  const size = ch.chunks[0]!.length;
  for (let i = 0; i < n; ) {
    const id = base + i;
    const c = ch.chunks[Math.floor(id / size)]!;
    const o = id % size;
    const k = Math.min(n - i, size - o);
    c.set(src.subarray(i, i + k), o);
    i += k;
  }
}

async function run(model: CompiledModel, opts: ParallelOptions): Promise<Exploration> {
  const t0 = performance.now();
  const { layout, invariants } = model;
  const W = layout.words;
  const nInst = model.instances.length;
  const maxSuccPerState = Math.max(nInst, 1);
  const kind: StoreKind = opts.store ?? 'exact';
  const S = slotWords(kind, W);
  const { maxLoad } = loadPolicy(kind);
  const nPart = Math.max(1, Math.floor(opts.workers));
  const chunk = Math.max(1, Math.floor(opts.chunk ?? chunkFor(nInst)));
  const memoryLimit = opts.memoryLimitBytes ?? defaultMemoryLimit();
  const sym = makeCanonicalizer(layout, opts.symmetry ?? 'none');
  const all = Boolean(opts.all);
  const maxStates = opts.maxStates ?? Infinity;
  // Successors that claims in flight can still insert after a participant
  // saw a threshold passed, for a round whose largest claim is `claim`.
  const inflight = (claim: number) => 2 * nPart * claim * maxSuccPerState;
  const single = (): Exploration => explore(model, { ...opts, workers: undefined } as CheckOptions);

  // The initial state; anything wrong with it is the single-threaded explorer's to report.
  const bw = new Uint32Array(W);
  let init;
  try {
    init = model.initial();
    if (layout.pack(init, bw, 0) >= 0) return single();
  } catch {
    return single();
  }
  if (sym) sym.canon(bw, 0, bw, 0);

  const links = new Links(W, nInst);
  const { parent, action, kept } = links;
  parent.set(0, -1);
  action.set(0, 0);
  const violations: RawViolation[] = [];
  const violated = new Set<string>();
  const premiseCounts: number[] = invariants.map((i) => (i.premise ? 0 : -1));
  const fired = new Uint8Array(nInst);
  const resume = opts.resume;
  if (resume) {
    takeOver(resume, searchIdentity(model, opts), { fired, premiseCounts, violations, violated, keep: (id, b, bo) => kept.keep(id, b, bo) });
    links.restore(resume.store);
  } else try {
    for (const inv of invariants) {
      if (!inv.holds(init) && !violated.has(inv.name)) {
        violated.add(inv.name);
        violations.push({ name: inv.name, kind: 'invariant', stateId: 0 });
        kept.keep(0, bw, 0);
        if (!all) break;
      }
    }
    invariants.forEach((inv, i) => {
      if (inv.premise && inv.premise(init)) premiseCounts[i]!++;
    });
  } catch {
    return single();
  }

  // Shared buffers.
  const growAtOf = (c: number, claim: number) => Math.min(Math.floor(c * maxLoad), c - 1 - inflight(claim));
  /**
   * The largest claim of a round: the first claim of the level (a share of
   * it, so the headroom reserved for claims in flight stays small while
   * levels are small), and no more than keeps that headroom within a tenth
   * of the table, so big claims never make the table grow earlier
   * (bytes/state).
   */
  const roundClaim = () => claimSize(workN, nPart, Math.min(chunk, Math.max(MIN_CHUNK, Math.floor((cap * 0.1) / (2 * nPart * maxSuccPerState)))));
  let cap = 1 << 14;
  while (growAtOf(cap, claimSize(1, nPart, chunk)) < 1024) cap *= 2;
  let tableBuf = new SharedArrayBuffer(cap * S * 4);
  prefault(tableBuf); // read before written (prefault.ts)
  const format = slotFormat(kind, layout);
  const mainTable = createSharedTable(format, layout.hash);
  if (resume) {
    cap = resume.store.capacity;
    tableBuf = flatToShared(format, resume.store.table, cap);
  }
  mainTable.attach(tableBuf, cap);
  if (!resume) mainTable.insert(bw, 0, layout.hash(bw, 0, HASH_SEED));
  const aBytes = actionBytes(nInst);
  let curBuf = new SharedArrayBuffer(W * 4 * Math.max(1024, resume?.curN ?? 0));
  // The level being expanded is curN states, ids levelStart..; a resumed
  // level expands only what its checkpoint left (`work`: those states'
  // indices in the level, in order), and the level after it starts with the
  // checkpoint's `nextN` states.
  let work: { idx: Int32Array; level: Uint32Array; next: Uint32Array } | undefined;
  if (resume) {
    const idx = pendingOf(resume.curN, resume.b0, resume.expanded);
    const level = resume.cur.subarray(0, resume.curN * W);
    const c = new Uint32Array(curBuf);
    if (idx.length === resume.curN) c.set(level);
    else idx.forEach((li, j) => c.set(level.subarray(li * W, li * W + W), j * W));
    work = { idx, level, next: resume.next.subarray(0, resume.nextN * W) };
  } else new Uint32Array(curBuf).set(bw);
  /** A level's states for the next level's expansion, reused when big enough. */
  let spareBuf: SharedArrayBuffer | undefined;
  /** Room a segment needs for one claim of `claim` states. */
  const segRoom = (claim: number) => claim * maxSuccPerState;
  const newSegment = (n: number): Segment => ({
    words: new SharedArrayBuffer(n * W * 4),
    parent: new SharedArrayBuffer(n * 4),
    action: new SharedArrayBuffer(n * aBytes),
    n: 0,
  });
  const segCap = (g: Segment) => g.parent.byteLength / 4;
  const segs: Segment[] = Array.from({ length: nPart }, () => newSegment(2 * segRoom(claimSize(1, nPart, chunk))));
  const ctrlBuf = new SharedArrayBuffer(ctlWords(nPart) * 4);
  const ctrl = new Int32Array(ctrlBuf);
  /**
   * Bumped once replaced shared buffers add up to 64 MiB or a tenth of what
   * is in use: participants then collect garbage to free them (a full GC on
   * every thread at a level barrier is not free, so not after every swap).
   */
  let gen = 0;
  let garbage = 0;
  const replaced = (bytes: number) => {
    garbage += bytes;
    if (garbage >= Math.max(64 * 2 ** 20, bytesNow() / 10)) {
      gen++;
      garbage = 0;
    }
  };

  /** What each participant's recent-lookup filter takes (on its own heap), as it last said. */
  const filterBytes = new Array<number>(nPart).fill(0);
  const bytesNow = () =>
    tableBuf.byteLength +
    curBuf.byteLength +
    (spareBuf?.byteLength ?? 0) +
    segs.reduce((a, g) => a + g.words.byteLength + g.parent.byteLength + g.action.byteLength, 0) +
    links.bytes() +
    filterBytes.reduce((a, b) => a + b, 0);
  let peakBytes = bytesNow();
  /** A new shared buffer within the memory budget (what it replaces still counted), or undefined. */
  const alloc = (bytes: number): SharedArrayBuffer | undefined => {
    if (memoryLimit > 0 && bytesNow() + bytes > memoryLimit) return undefined;
    try {
      return new SharedArrayBuffer(bytes);
    } catch {
      return undefined;
    }
  };
  const growSegment = (g: Segment, claim: number): boolean => {
    const want = Math.max(2 * segCap(g), g.n + 2 * segRoom(claim));
    const copy = (old: SharedArrayBuffer, per: number): SharedArrayBuffer | undefined => {
      const nb = alloc(want * per);
      if (!nb) return undefined;
      // Participants fill segments and the table at the same time: map their
      // pages now, on this thread alone (prefault.ts). The next level's
      // buffer is written by this thread only, so it is left to fault.
      prefault(nb);
      new Uint8Array(nb).set(new Uint8Array(old, 0, g.n * per));
      return nb;
    };
    const a = copy(g.words, W * 4);
    if (!a) return false;
    g.words = a;
    const b = copy(g.parent, 4);
    if (!b) return false;
    g.parent = b;
    const c = copy(g.action, aBytes);
    if (!c) return false;
    replaced(g.words.byteLength / 2 + g.parent.byteLength / 2 + g.action.byteLength / 2);
    g.action = c;
    return true;
  };

  /** States expanded, and ms spent in rounds, per participant (TLBCHECK_PARALLEL_STATS=1 prints them; =rounds, each round too). */
  const expandedBy = new Array<number>(nPart).fill(0);
  const busyBy = new Array<number>(nPart).fill(0);
  let rounds = 0;
  /** Where this thread's time went (ms), for TLBCHECK_PARALLEL_STATS. */
  const timing = { round: 0, wait: 0, grow: 0, file: 0, allJoined: -1 };
  let curN = resume?.curN ?? 1;
  let levelStart = resume?.levelStart ?? 0;
  let depth = resume?.depth ?? 0;
  let nextN = 0;
  let transitions = resume?.transitions ?? 0;
  /** States of the level to expand (curN, or what a resumed level has left), and next-level states the checkpoint had. */
  let workN = work ? work.idx.length : curN;
  let nextBase = work ? work.next.length / W : 0;
  let limit: LimitHit | undefined;
  let stop = violations.length > 0 && !all;
  /** Search time of earlier sessions (a resumed run). */
  const before = resume?.elapsedMs ?? 0;
  let lastSave = t0;
  /** The last checkpoint: states then, and why the latest attempt failed. */
  let saved: { at: number; error: string | undefined } = { at: -1, error: undefined };
  const finish = (): Exploration => {
    const levelEnd = levelStart + curN;
    const total = levelEnd + nextN;
    const states = limit === 'max-depth' ? levelEnd : limit === 'max-states' ? Math.min(total, maxStates) : total;
    const store: StateStore = {
      words: W,
      count: () => total,
      insert: () => {
        throw new Error('the store of a finished parallel run is read-only');
      },
      touch: () => 0,
      ...links.accessors(),
      full: () => false,
      stats: () => ({ bytes: peakBytes, capacity: cap }),
      snapshot: () => {
        throw new Error('a multi-core run has no checkpoint');
      },
      restore: () => {
        throw new Error('a multi-core run has no checkpoint');
      },
    };
    return {
      store: sym && violations.length ? realPaths(model, store, violations, sym.canon) : store,
      symmetrySorts: sym ? sym.sorts : [],
      states,
      transitions,
      depth: limit !== 'max-depth' && total > levelEnd ? depth + 1 : depth,
      elapsedMs: before + performance.now() - t0,
      violations,
      limit,
      fired,
      premiseCounts,
      storeBytes: peakBytes,
      omissionProbability: kind === 'fingerprint' ? omissionProbability(total) : undefined,
      notes: [...(resume ? [`resumed from a checkpoint at ${resume.store.count.toLocaleString('en-US')} states`] : []), ...(saved.error ? [saved.error] : [])],
      checkpointStates: saved.at >= 0 ? saved.at : undefined,
    };
  };
  if (stop) return finish();

  const popts: ParticipantOptions = {
    symmetry: opts.symmetry ?? 'none',
    store: kind,
    ctrl: ctrlBuf,
    all,
    noDeadlock: Boolean(opts.noDeadlock),
    maxStates: opts.maxStates,
    maxDepth: opts.maxDepth,
    deadline: opts.timeLimitMs !== undefined ? Date.now() + opts.timeLimitMs - (performance.now() - t0) : undefined,
    memoryLimitBytes: memoryLimit,
    chunk,
    parts: nPart,
  };
  const me = createParticipant(model, popts);
  const early = nPart > 1 ? opts.threads?.take(nPart - 1) : undefined;
  const pool =
    nPart > 1
      ? new Pool(nPart - 1, { ...popts, type: 'init', source: opts.source, params: model.params, invariants: invariants.map((i) => i.name), words: W, instances: nInst }, early)
      : undefined;
  const helpers = (): number[] => {
    if (pool?.fatal) throw new ModelError(`a worker thread could not load the model: ${pool.fatal}`);
    return pool ? pool.ready() : [];
  };
  /** Let the event loop deliver worker threads' 'ready' messages (awaiting only settled promises never does). */
  const joinReady = async (): Promise<number[]> => {
    if (pool && pool.ready().length < nPart - 1) await new Promise((r) => setImmediate(r));
    const h = helpers();
    if (timing.allJoined < 0 && h.length === nPart - 1) timing.allJoined = performance.now() - t0;
    return h;
  };

  if (pool && opts.waitForWorkers) {
    while (helpers().length < nPart - 1) {
      if (pool.failure) throw pool.failure;
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  let lastProgress = t0;
  const progressEvery = opts.progressIntervalMs ?? 100;
  const progress = () => {
    if (!opts.onProgress) return;
    const now = performance.now();
    if (now - lastProgress < progressEvery) return;
    lastProgress = now;
    const states = levelStart + curN + nextBase + Atomics.load(ctrl, Ctl.COUNT);
    const el = now - t0;
    opts.onProgress({
      states,
      transitions,
      depth,
      queue: unclaimed(ctrl, workN, nPart) + Atomics.load(ctrl, Ctl.COUNT),
      elapsedMs: el,
      statesPerSec: (states / el) * 1000,
      memoryBytes: bytesNow(),
      rssBytes: process.memoryUsage.rss(),
      memoryLimitBytes: memoryLimit,
    });
  };

  const growTable = async (): Promise<boolean> => {
    const ncap = kind === 'fingerprint' ? fpGrow(cap) : cap * 2;
    if (ncap * S > 2 ** 32 - 1) return false;
    const nb = alloc(ncap * S * 4);
    if (!nb) return false;
    const act = await joinReady();
    const msg = (part: number): RehashMsg => ({ type: 'rehash', from: tableBuf, fromCap: cap, to: nb, toCap: ncap, part, parts: act.length + 1 });
    const others = act.map((i, k) => pool!.call<{ left: number[] }>(i, msg(k + 1)));
    const left = me.rehash(msg(0));
    for (const r of await Promise.all(others)) left.push(...r.left);
    finishRehash(format, layout.hash, msg(0), left);
    replaced(tableBuf.byteLength);
    tableBuf = nb;
    cap = ncap;
    mainTable.attach(tableBuf, cap);
    return true;
  };

  /**
   * Save the search (checkpoint.ts) between two rounds, in the one-thread
   * format. The level's new states so far are still in the segments (they
   * get ids after the checkpoint's nextBase states, in participant order,
   * as filing would give them); the states of the level not expanded yet are
   * the unclaimed ends of the ranges and the rest of each paused claim.
   */
  const save = (file: string, now: number, stored: number, base: number, leftovers: readonly [number, number][], found: readonly { v: WorkerViolation; part: number }[]) => {
    const segN = segs.reduce((a, g) => a + g.n, 0);
    const count = stored + segN;
    const snap = links.snapshot(stored);
    const par = new Int32Array(count);
    par.set(snap.parent);
    const act = actionArray(nInst)(count);
    act.set(snap.action);
    const next = new Uint32Array((nextBase + segN) * W);
    if (work) next.set(work.next);
    const offsets: number[] = [];
    let o = nextBase;
    segs.forEach((g) => {
      offsets.push(o);
      const segParent = new Int32Array(g.parent, 0, g.n);
      for (let i = 0; i < g.n; i++) par[levelStart + curN + o + i] = realId(segParent[i]!, base);
      act.set(actionView(g.action, nInst).subarray(0, g.n), levelStart + curN + o);
      next.set(new Uint32Array(g.words, 0, g.n * W), o * W);
      o += g.n;
    });
    const pending = new Uint8Array(curN);
    const mark = (from: number, to: number) => {
      for (let j = from; j < to; j++) pending[work ? work.idx[j]! : j] = 1;
    };
    for (let p = 0; p < nPart; p++) {
      mark(Math.min(Atomics.load(ctrl, Ctl.RANGES + p), rangeStart(p + 1, workN, nPart)), rangeStart(p + 1, workN, nPart));
      mark(leftovers[p]![0], leftovers[p]![1]);
    }
    const { b0, expanded } = expandedOf(pending);
    const vs = [...violations];
    const vw = new Uint32Array((violations.length + found.length) * W);
    violations.forEach((v, i) => vw.set(links.kept.table().subarray(links.kept.offsetOf(v.stateId), links.kept.offsetOf(v.stateId) + W), i * W));
    for (const { v, part } of found) {
      vw.set(v.words, vs.length * W);
      vs.push({ name: v.name, kind: v.kind, stateId: v.kind === 'deadlock' ? realId(v.stateId, base) : levelStart + curN + offsets[part]! + v.local, multiCore: true });
    }
    writeCheckpoint(file, {
      identity: searchIdentity(model, opts),
      words: W,
      store: { capacity: cap, count, table: sharedToFlat(format, tableBuf, cap), parent: par, action: act },
      cur: work ? work.level : new Uint32Array(curBuf, 0, curN * W),
      curN,
      next,
      nextN: nextBase + segN,
      levelStart,
      b0,
      expanded,
      depth,
      transitions,
      elapsedMs: before + (now - t0),
      fired,
      premiseCounts,
      violations: vs,
      violationWords: vw,
    });
    saved = { at: count, error: undefined };
    lastSave = now;
  };
  /** Saved when a time limit or a signal stops the run, and every checkpoint.everyMs; a failed save is reported, not fatal. */
  const maybeSave = (now: number, stored: number, base: number, leftovers: readonly [number, number][], found: readonly { v: WorkerViolation; part: number }[]) => {
    const c = opts.checkpoint;
    if (!c) return;
    if (!(stop ? limit === 'time-limit' || limit === 'interrupted' : now - lastSave >= c.everyMs)) return;
    try {
      save(c.file, now, stored, base, leftovers, found);
    } catch (e) {
      saved = { at: saved.at, error: `checkpoint ${c.file} could not be written: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` };
      lastSave = now;
    }
  };
  /** A level state's id from the id a participant wrote for its work index j (base + j). */
  const realId = (written: number, base: number) => levelStart + (work ? work.idx[written - base]! : written - base);

  try {
    for (;;) {
      resetRanges(ctrl, workN, nPart);
      Atomics.store(ctrl, Ctl.COUNT, 0);
      Atomics.store(ctrl, Ctl.PAUSE, 0);
      for (const g of segs) g.n = 0;
      nextN = 0;
      /** States stored before this level's new ones; participants number their work `base + j` so that base + workN is that count. */
      const levelEnd = levelStart + curN + nextBase;
      const base = levelEnd - workN;
      /** Violations found in this level (ids of new states are known once the level is filed). */
      const found: { v: WorkerViolation; part: number }[] = [];
      let levelDone = false;
      /** Per participant: the rest of the claim it paused in (finished first in the next round). */
      const leftovers: [number, number][] = Array.from({ length: nPart }, () => [0, 0]);
      while (!levelDone && !stop) {
        // Room for every claim in flight, in the table and in every segment.
        let claim = roundClaim();
        let room = true;
        const tg0 = performance.now();
        while (room && levelEnd + Atomics.load(ctrl, Ctl.COUNT) >= growAtOf(cap, claim)) {
          room = await growTable();
          claim = roundClaim();
        }
        timing.grow += performance.now() - tg0;
        for (const g of segs) while (room && g.n + segRoom(claim) > segCap(g)) room = growSegment(g, claim);
        peakBytes = Math.max(peakBytes, bytesNow());
        if (!room) {
          limit = 'memory';
          stop = true;
          break;
        }
        const act = await joinReady();
        const msg = (p: number): RunMsg => ({
          type: 'run',
          gen,
          table: tableBuf,
          cap,
          cur: curBuf,
          curN: workN,
          seg: segs[p]!,
          part: p,
          levelStart: base,
          depth,
          growAt: growAtOf(cap, claim),
          maxClaim: claim,
          resumeFrom: leftovers[p]![0],
          resumeTo: leftovers[p]![1],
          storeBytes: tableBuf.byteLength + links.bytes(),
          violated: [...violated],
        });
        const others = act.map((i) => pool!.call<DoneMsg>(i, msg(i + 1)));
        const tr0 = performance.now();
        me.collect(gen);
        // With a signal to watch, this thread pauses the round after
        // SLICE_MS so that the event loop can deliver it (a round can last a
        // whole level), and at once when it is aborted already (progress
        // callbacks abort in tests; the stop is then mid-level, as Ctrl-C's).
        const mine = me.round(
          msg(0),
          opts.signal || opts.checkpoint
            ? () => {
                progress();
                if (opts.signal?.aborted || performance.now() - tr0 > SLICE_MS) Atomics.or(ctrl, Ctl.PAUSE, 1);
              }
            : progress,
        );
        const tr1 = performance.now();
        const res: [number, DoneMsg][] = [[0, mine], ...(await Promise.all(others)).map((r, k): [number, DoneMsg] => [act[k]! + 1, r])];
        timing.round += tr1 - tr0;
        timing.wait += performance.now() - tr1;
        if (process.env.TLBCHECK_PARALLEL_STATS === 'rounds')
          process.stderr.write(
            `round: level ${depth} of ${curN}, at ${(tr0 - t0).toFixed(1)} ms, busy ${res.map(([, r]) => r.busyMs.toFixed(1)).join(' ')} ms, ` +
              `expanded ${res.map(([, r]) => r.expanded).join(' ')}, then waited ${(performance.now() - tr1).toFixed(1)} ms, left ${res.map(([, r]) => r.leftTo - r.leftFrom).join(' ')}\n`,
          );
        const failed = res.find(([, r]) => r.error);
        if (failed) {
          await pool?.close();
          single(); // throws the model error, diagnosed as a single-threaded run does
          throw new ModelError(`a worker failed: ${failed[1].error}`);
        }
        const asym = res.find(([, r]) => r.asymmetry);
        if (asym) throw new AsymmetryFault(asym[1].asymmetry!);
        const round: { v: WorkerViolation; part: number }[] = [];
        rounds++;
        for (const [p, r] of res) {
          leftovers[p] = [r.leftFrom, r.leftTo];
          expandedBy[p]! += r.expanded;
          busyBy[p]! += r.busyMs;
          filterBytes[p] = r.filterBytes;
          segs[p]!.n = r.segN;
          transitions += r.transitions;
          for (let k = 0; k < nInst; k++) fired[k]! |= r.fired[k]!;
          r.premiseCounts.forEach((c, i) => {
            if (c > 0) premiseCounts[i]! += c;
          });
          for (const v of r.violations) round.push({ v, part: p });
        }
        round.sort((a, b) => a.v.key - b.v.key);
        for (const f of round) {
          if (violated.has(f.v.name)) continue;
          if (!all && found.length) break;
          violated.add(f.v.name);
          found.push(f);
        }
        if (Atomics.load(ctrl, Ctl.STOP) !== 0) {
          stop = true;
          if (!(found.length && !all)) limit = LIMITS[Atomics.load(ctrl, Ctl.LIMIT)];
          if (!limit && !found.length) throw new Error('parallel run stopped without a reason');
        } else if (memoryLimit > 0 && process.memoryUsage.rss() > memoryLimit) {
          limit = 'memory';
          stop = true;
        } else if (opts.signal) {
          await new Promise((r) => setImmediate(r));
          if (opts.signal.aborted) {
            limit = 'interrupted';
            stop = true;
          }
        }
        if (unclaimed(ctrl, workN, nPart) === 0 && leftovers.every(([from, to]) => to <= from)) levelDone = true;
        Atomics.store(ctrl, Ctl.PAUSE, 0);
        progress();
        if (!levelDone) maybeSave(performance.now(), levelEnd, base, leftovers, found);
      }
      if (stop) maybeSave(performance.now(), levelEnd, base, leftovers, found);
      const tf0 = performance.now();
      // File the level: segments in participant order become ids levelEnd...
      const offsets: number[] = [];
      nextN = nextBase;
      for (const g of segs) {
        offsets.push(nextN);
        nextN += g.n;
      }
      for (const { v, part } of found) {
        const id = v.kind === 'deadlock' ? realId(v.stateId, base) : levelStart + curN + offsets[part]! + v.local;
        violations.push({ name: v.name, kind: v.kind, stateId: id, multiCore: true });
        kept.keep(id, Uint32Array.from(v.words), 0);
      }
      segs.forEach((g, p) => {
        const segParent = new Int32Array(g.parent, 0, g.n);
        fileLinks(parent, levelStart + curN + offsets[p]!, work ? segParent.map((x) => realId(x, base)) : segParent);
        fileLinks(action, levelStart + curN + offsets[p]!, actionView(g.action, nInst).subarray(0, g.n));
      });
      peakBytes = Math.max(peakBytes, bytesNow());
      if (stop || nextN === 0) break;
      // The next level's states, in id order, into one buffer.
      let nb = spareBuf && spareBuf.byteLength >= nextN * W * 4 ? spareBuf : undefined;
      if (!nb) {
        if (spareBuf) replaced(spareBuf.byteLength);
        spareBuf = undefined;
        nb = alloc(Math.max(nextN, 1024) * 2 * W * 4);
        if (!nb) {
          limit = 'memory';
          break;
        }
      }
      const dst = new Uint32Array(nb);
      if (work) dst.set(work.next);
      segs.forEach((g, p) => dst.set(new Uint32Array(g.words, 0, g.n * W), offsets[p]! * W));
      spareBuf = curBuf;
      curBuf = nb;
      depth++;
      levelStart += curN;
      curN = nextN;
      nextN = 0;
      work = undefined;
      workN = curN;
      nextBase = 0;
      peakBytes = Math.max(peakBytes, bytesNow());
      timing.file += performance.now() - tf0;
    }
  } finally {
    await pool?.close();
  }
  if (process.env.TLBCHECK_PARALLEL_STATS)
    process.stderr.write(`parallel: ${rounds} rounds, ${depth + 1} levels, expanded per participant ${expandedBy.join(' ')} in ${busyBy.map((b) => b.toFixed(0)).join(' ')} ms, ${(performance.now() - t0).toFixed(0)} ms ` +
        `(own rounds ${timing.round.toFixed(0)}, waiting for workers ${timing.wait.toFixed(0)}, growing the table ${timing.grow.toFixed(0)}, filing levels ${timing.file.toFixed(0)}; all workers joined at ${timing.allJoined.toFixed(0)} ms)\n`);
  return finish();
}
