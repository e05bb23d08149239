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

/** Indices into the shared control words (Int32Array). */
export const Ctl = {
  /** Next unclaimed index of the current level (chunks claimed with Atomics.add). */
  CURSOR: 0,
  /** New states found in this level so far, summed at chunk boundaries. */
  COUNT: 1,
  /** Set by a participant when a table must grow: every participant ends its round at its next chunk boundary. */
  PAUSE: 2,
  /** Set on a violation (not --all), an error or a limit: every participant ends its round. */
  STOP: 3,
  /** The first limit hit (LimitCode). */
  LIMIT: 4,
  SIZE: 8,
} as const;

export const LimitCode = { NONE: 0, MAX_STATES: 1, MAX_DEPTH: 2, TIME: 3, MEMORY: 4 } as const;
export type LimitCode = (typeof LimitCode)[keyof typeof LimitCode];

/**
 * States claimed at once by a participant: at most the round's largest claim
 * (claimSize of the whole level: parallel.ts), and fewer toward a level's
 * end (claimSize of what is left). Big claims keep
 * a state's siblings on one participant, so its recent-lookup filter
 * (recent-filter.ts) still catches their shared successors. On N=6 P=2 K=1
 * sync, two participants sent to the table 64.5 % of all successors with
 * fixed claims of 96 states, 53 % with claims of up to 2048 and 49 % with up
 * to 8192; one participant alone sends 50.5 %.
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
 * Guided self-scheduling: claim a share of what is left of the level
 * (left / (2 × participants)), between the smallest claim and `max`, so the
 * level's end is split finely and no participant waits long at the barrier.
 */
export function claimSize(left: number, parts: number, max: number): number {
  return Math.min(max, Math.max(Math.min(MIN_CHUNK, max), Math.ceil(left / (2 * parts))));
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
  levelStart: number;
  depth: number;
  /** Stop claiming chunks (PAUSE) once the table holds this many states. */
  growAt: number;
  /** The largest claim this round (the coordinator reserved room for claims this big). */
  maxClaim: number;
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
  fired: Uint8Array;
  premiseCounts: number[];
  violations: WorkerViolation[];
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
