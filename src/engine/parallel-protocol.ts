/**
 * What the coordinator (parallel.ts) and its workers (parallel-worker.ts)
 * share: the control words in a SharedArrayBuffer, the chunk sizes, and the
 * messages they exchange.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import type { StoreKind } from './fingerprint-store.js';
import type { ParamValueAny } from './model.js';
import type { SymmetryMode } from './symmetry.js';

/** Where a worker gets the model: a module file, its export (default: `default`), called with factoryArg if given. */
export interface ModelSource {
  /** Absolute path of a TypeScript/JavaScript module. */
  readonly file: string;
  readonly exportName?: string;
  /** If set, the export is a function returning the model and is called with this (structured-cloneable) value. */
  readonly factoryArg?: unknown;
}

/** Indices into the shared control words (Int32Array, ctlWords(parts) of them). */
export const Ctl = {
  /** New states found in this level so far, summed at chunk boundaries. */
  COUNT: 0,
  /** Set by a participant when a table must grow: every participant ends its round at its next chunk boundary. */
  PAUSE: 1,
  /** Set on a violation (not --all), an error or a limit: every participant ends its round. */
  STOP: 2,
  /** The first limit hit (LimitCode). */
  LIMIT: 3,
  /** Word RANGES + p: the next unclaimed index of participant p's range of the current level (claimNext). */
  RANGES: 4,
} as const;

/** Control words for `parts` participants. */
export function ctlWords(parts: number): number {
  return Ctl.RANGES + parts;
}

export const LimitCode = { NONE: 0, MAX_STATES: 1, MAX_DEPTH: 2, TIME: 3, MEMORY: 4 } as const;
export type LimitCode = (typeof LimitCode)[keyof typeof LimitCode];

/**
 * States claimed at once by a participant: at most the round's largest claim
 * (claimSize of the whole level: parallel.ts), and fewer toward the end of a
 * range (claimSize of what is left of it).
 */
export const CHUNK = 8192;
/** The smallest claim (unless the configured largest claim is smaller). */
export const MIN_CHUNK = 96;
/** Successors of one claim that the coordinator reserves room for, at most (8192 states × 48 instances). */
const CLAIM_SUCCESSORS = 393_216;

/** The largest claim for a model with `instances` action instances: table and segment headroom scale with it. */
export function chunkFor(instances: number): number {
  return Math.max(MIN_CHUNK, Math.min(CHUNK, Math.floor(CLAIM_SUCCESSORS / Math.max(instances, 1))));
}

/**
 * Guided self-scheduling: claim a share of what is left
 * (left / (2 × participants)), between the smallest claim and `max`, so the
 * end is split finely and no participant waits long at the barrier.
 */
export function claimSize(left: number, parts: number, max: number): number {
  return Math.min(max, Math.max(Math.min(MIN_CHUNK, max), Math.ceil(left / (2 * parts))));
}

/** Start of participant p's range of a level of n states (p = parts: n). */
export function rangeStart(p: number, n: number, parts: number): number {
  // floor(p n / parts) by an exact division: a fraction met for the first
  // time deoptimizes the round loop this is inlined into.
  const pn = p * n;
  return (pn - (pn % parts)) / parts;
}

/** Point every range cursor at the start of its range, for a level of n states. */
export function resetRanges(ctrl: Int32Array, n: number, parts: number): void {
  for (let p = 0; p < parts; p++) Atomics.store(ctrl, Ctl.RANGES + p, rangeStart(p, n, parts));
}

/** States of the level of n not claimed yet. */
export function unclaimed(ctrl: Int32Array, n: number, parts: number): number {
  let left = 0;
  for (let p = 0; p < parts; p++) left += Math.max(0, rangeStart(p + 1, n, parts) - Atomics.load(ctrl, Ctl.RANGES + p));
  return left;
}

/**
 * The next claim of participant `part` in a level of n states: span[0] ..
 * span[1]-1, or false when every state is claimed. The level is split into
 * one contiguous range per participant; each claims from the front of its
 * own range, and once that is exhausted from the fronts of the others'
 * (part+1, part+2, … in turn). So each participant expands one long run of
 * consecutive states, as one thread would, and its recent-lookup filter
 * (recent-filter.ts) catches the duplicates that states far apart in the
 * level share. Claims taken alternately from one shared cursor split the
 * level into interleaved chunks instead: a successor's earlier copy then
 * came from the other participant half the time. Measured on N=6 P=2 K=1
 * sync, 2 participants: table lookups per state 8.0-8.1 with one shared
 * cursor and 256 KiB filters, 6.1 with 4 MiB filters, 4.7-4.9 with ranges
 * and 4 MiB filters (one thread: 4.6), and 2 workers 5.9-6.0 s against
 * 5.2-5.6 s.
 */
export function claimNext(ctrl: Int32Array, part: number, parts: number, n: number, maxClaim: number, span: Int32Array): boolean {
  // Written so that every operation runs on the first pass too (inlined into
  // the round loop, an operation first met later would deoptimize it).
  let q = part - 1;
  let k = 0;
  while (k++ < parts) {
    q = q + 1 === parts ? 0 : q + 1;
    const end = rangeStart(q + 1, n, parts);
    const at = Atomics.load(ctrl, Ctl.RANGES + q);
    if (at >= end) continue;
    const size = claimSize(end - at, parts, maxClaim);
    const s0 = Atomics.add(ctrl, Ctl.RANGES + q, size);
    if (s0 >= end) continue;
    span[0] = s0;
    span[1] = Math.min(end, s0 + size);
    return true;
  }
  return false;
}

/** What every participant (the coordinator's thread included) is told once. */
export interface ParticipantOptions {
  symmetry: SymmetryMode;
  store: StoreKind;
  ctrl: SharedArrayBuffer;
  all: boolean;
  noDeadlock: boolean;
  maxStates?: number;
  maxDepth?: number;
  /** Date.now() after which the run stops (time limit). */
  deadline?: number;
  /** RSS budget in bytes (0 = none). */
  memoryLimitBytes: number;
  /** Most states claimed at once in any round (default chunkFor(instances); tests use 1 to interleave participants finely). */
  chunk: number;
  /** Participants (the coordinator and its worker threads), for the claim size. */
  parts: number;
}

/** Sent to a worker started early (WorkerThreads): load tsx, the engine and this model file now; 'init' follows. */
export interface LoadMsg {
  type: 'load';
  source: ModelSource;
}

export interface InitMsg extends ParticipantOptions {
  type: 'init';
  source: ModelSource;
  params: Record<string, ParamValueAny>;
  invariants: string[];
  words: number;
  instances: number;
}

/** A participant's own part of the next level: packed states, parent ids, action ids. */
export interface Segment {
  words: SharedArrayBuffer;
  parent: SharedArrayBuffer;
  action: SharedArrayBuffer;
  /** States in it so far this level. */
  n: number;
}

export interface RunMsg {
  type: 'run';
  /** Bumped by the coordinator whenever it replaces a large shared buffer (see collectGarbage). */
  gen: number;
  table: SharedArrayBuffer;
  cap: number;
  cur: SharedArrayBuffer;
  curN: number;
  seg: Segment;
  /** This participant's index (its range of the level: claimNext). */
  part: number;
  levelStart: number;
  depth: number;
  /** Stop claiming chunks (PAUSE) once the table holds this many states. */
  growAt: number;
  /** The largest claim this round (the coordinator reserved room for claims this big). */
  maxClaim: number;
  /** States resumeFrom..resumeTo-1: what is left of the claim this participant paused in last round (its leftFrom..leftTo), expanded first; equal when none. */
  resumeFrom: number;
  resumeTo: number;
  /** Bytes of the visited set (table and links): the recent-lookup filter grows with it (Batch.fitFilter). */
  storeBytes: number;
  /** Names already reported (--all): not reported again. */
  violated: string[];
}

export interface RehashMsg {
  type: 'rehash';
  from: SharedArrayBuffer;
  fromCap: number;
  to: SharedArrayBuffer;
  toCap: number;
  /** This participant's share (region) and the number of shares. */
  part: number;
  parts: number;
}

export interface WorkerViolation {
  name: string;
  kind: 'invariant' | 'deadlock';
  /** Deadlock: the state's id. Invariant: -1 (the state is `local` in the participant's segment). */
  stateId: number;
  local: number;
  /** Position in single-threaded order within the level: index of the expanded state × (instances + 1) + successor. */
  key: number;
  words: number[];
}

export interface DoneMsg {
  type: 'done';
  transitions: number;
  expanded: number;
  /** States in the participant's segment after the round. */
  segN: number;
  /** Bytes its recent-lookup filter takes. */
  filterBytes: number;
  fired: Uint8Array;
  premiseCounts: number[];
  violations: WorkerViolation[];
  /**
   * The rest of the claim it was expanding when the round paused, states
   * leftFrom..leftTo-1 (equal when none): a pause is seen after every batch,
   * not only at the end of a claim, so the other participants do not wait
   * for up to a whole claim at every pause.
   */
  leftFrom: number;
  leftTo: number;
  /** Milliseconds the participant spent in the round (TLBCHECK_PARALLEL_STATS). */
  busyMs: number;
  error?: string;
  asymmetry?: string;
}

/** The action-id array of a level over a shared buffer: the narrowest type for the instance count. */
export function actionView(buf: SharedArrayBuffer, instances: number): Uint8Array | Uint16Array | Uint32Array {
  return instances <= 0x100 ? new Uint8Array(buf) : instances <= 0x10000 ? new Uint16Array(buf) : new Uint32Array(buf);
}

export function actionBytes(instances: number): number {
  return instances <= 0x100 ? 1 : instances <= 0x10000 ? 2 : 4;
}

let gc: (() => void) | undefined;

/**
 * A full garbage collection of this thread's heap. A SharedArrayBuffer is
 * freed only once every thread that received it has collected its wrapper,
 * and participants allocate so little on their heaps that they hardly ever
 * collect: without this, tables and segments replaced on growth stayed
 * resident (a 10^8-state run peaked at 3x the memory it was using). Called
 * when the coordinator's buffer generation changes (a few dozen times per
 * run). `gc` is V8's, exposed at run time as node --expose-gc would.
 */
export function collectGarbage(): void {
  if (!gc) {
    v8.setFlagsFromString('--expose-gc');
    gc = vm.runInNewContext('gc') as () => void;
  }
  gc();
}
