/**
 * Checkpoints of a search, on one thread or several (--checkpoint FILE,
 * --resume FILE): everything the explorer needs to go on where it stopped,
 * so a run of hours survives a reboot, a time limit or Ctrl-C. Either kind
 * of run resumes the other's checkpoint.
 *
 * What is saved is taken only between two batches (explore.ts; between two
 * rounds in parallel.ts), where every state of the level marked expanded
 * has all its successors in the store: the visited set (table and
 * parent/action links, in the one-thread store's format), the level being
 * expanded and the one being filled (packed states), which states of the
 * level are expanded (those before b0, and the ranges in `expanded`: a
 * multi-core level is expanded in parallel ranges), the counters, the
 * actions that fired, the premise counts and the violations found so far
 * (with --all). Nothing of the tables (lazy-tables.ts) or the recent filter
 * is saved: both are caches.
 *
 * File: the 8 bytes "TLBCKPT1", a u32 header length, the header (JSON: what
 * the search was — model, parameters, layout, options — and the scalars),
 * then each array of the header's `arrays` list, 8-byte aligned. A resumed
 * run checks that the model, its parameters, its state layout and the
 * options that change the state space are the same.
 */
import { closeSync, openSync, readSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import type { RawViolation } from './explore.js';
import type { StoreSnapshot } from './store.js';

const MAGIC = 'TLBCKPT1';

/** What identifies a search: a checkpoint resumes only the same one. */
export interface SearchIdentity {
  readonly model: string;
  readonly params: Record<string, unknown>;
  /** The state layout: words and every leaf's path and bits (layout.ts). */
  readonly layout: string;
  readonly store: string;
  readonly symmetry: string;
  readonly all: boolean;
  readonly noDeadlock: boolean;
}

export interface CheckpointData {
  readonly identity: SearchIdentity;
  /** Words per packed state. */
  readonly words: number;
  readonly store: StoreSnapshot;
  /** The level being expanded (curN states), the next one so far (nextN states), W words each. */
  readonly cur: Uint32Array;
  readonly curN: number;
  readonly next: Uint32Array;
  readonly nextN: number;
  readonly levelStart: number;
  /** The next batch of the level being expanded. */
  readonly b0: number;
  /**
   * States of the level being expanded, after b0, that are expanded already:
   * [from, to) pairs, ascending (a multi-core run expands a level's ranges in
   * parallel, so what is left of it need not be one range; empty otherwise).
   */
  readonly expanded: Int32Array;
  readonly depth: number;
  readonly transitions: number;
  /** Search time before this checkpoint, over every earlier session. */
  readonly elapsedMs: number;
  readonly fired: Uint8Array;
  readonly premiseCounts: readonly number[];
  readonly violations: readonly RawViolation[];
  /** The words of the violating states (W each, in violations' order). */
  readonly violationWords: Uint32Array;
}

export class CheckpointError extends Error {}

type Arr = Uint8Array | Uint16Array | Uint32Array | Int32Array;
const KINDS = { Uint8Array, Uint16Array, Uint32Array, Int32Array } as const;
type Kind = keyof typeof KINDS;
const kindOf = (a: Arr): Kind => a.constructor.name as Kind;

/** Write `d` to `file` atomically (a temporary file renamed into place). */
export function writeCheckpoint(file: string, d: CheckpointData): void {
  const arrays: [string, Arr][] = [
    ['table', d.store.table],
    ['parent', d.store.parent],
    ['action', d.store.action],
    ['cur', d.cur.subarray(0, d.curN * d.words)],
    ['next', d.next.subarray(0, d.nextN * d.words)],
    ['fired', d.fired],
    ['violationWords', d.violationWords],
    ['expanded', d.expanded],
  ];
  const header = {
    format: 'tlbcheck-checkpoint',
    version: 1,
    identity: d.identity,
    words: d.words,
    capacity: d.store.capacity,
    count: d.store.count,
    curN: d.curN,
    nextN: d.nextN,
    levelStart: d.levelStart,
    b0: d.b0,
    depth: d.depth,
    transitions: d.transitions,
    elapsedMs: d.elapsedMs,
    premiseCounts: d.premiseCounts,
    violations: d.violations,
    arrays: arrays.map(([name, a]) => ({ name, kind: kindOf(a), length: a.length })),
  };
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const pre = Buffer.alloc(12);
    pre.write(MAGIC, 0, 'latin1');
    pre.writeUInt32LE(head.length, 8);
    let pos = 0;
    const put = (b: Uint8Array) => {
      // writeSync may write less than asked for.
      for (let off = 0; off < b.length; ) off += writeSync(fd, b, off, b.length - off, pos + off);
      pos += b.length;
    };
    put(pre);
    put(head);
    for (const [, a] of arrays) {
      put(new Uint8Array((8 - (pos % 8)) % 8));
      put(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    }
    closeSync(fd);
    renameSync(tmp, file);
  } catch (e) {
    try {
      closeSync(fd);
    } catch {
      /* closed already */
    }
    rmSync(tmp, { force: true });
    throw e;
  }
}

export function readCheckpoint(file: string): CheckpointData {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new CheckpointError(`cannot read checkpoint ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  try {
    const size = statSync(file).size;
    let pos = 0;
    const take = (n: number): Buffer => {
      if (pos + n > size) throw new CheckpointError(`${file}: the checkpoint is truncated`);
      const b = Buffer.alloc(n);
      for (let off = 0; off < n; ) {
        const got = readSync(fd, b, off, n - off, pos + off);
        if (got === 0) throw new CheckpointError(`${file}: the checkpoint is truncated`);
        off += got;
      }
      pos += n;
      return b;
    };
    const pre = take(12);
    if (pre.toString('latin1', 0, 8) !== MAGIC) throw new CheckpointError(`${file} is not a tlbcheck checkpoint`);
    let h: Record<string, unknown>;
    try {
      h = JSON.parse(take(pre.readUInt32LE(8)).toString('utf8')) as Record<string, unknown>;
    } catch (e) {
      if (e instanceof CheckpointError) throw e;
      throw new CheckpointError(`${file}: the checkpoint header is damaged`);
    }
    if (h.format !== 'tlbcheck-checkpoint' || h.version !== 1) throw new CheckpointError(`${file}: checkpoint format version ${String(h.version)} is not supported`);
    const arrays = new Map<string, Arr>();
    for (const { name, kind, length } of h.arrays as { name: string; kind: Kind; length: number }[]) {
      const K = KINDS[kind];
      if (!K) throw new CheckpointError(`${file}: the checkpoint header is damaged`);
      take((8 - (pos % 8)) % 8);
      const bytes = take(length * K.BYTES_PER_ELEMENT);
      const a = new K(length);
      new Uint8Array(a.buffer).set(bytes);
      arrays.set(name, a);
    }
    if (pos !== size) throw new CheckpointError(`${file}: the checkpoint has trailing bytes (damaged)`);
    const arr = (n: string) => arrays.get(n) ?? new Uint32Array(0);
    const num = (k: string) => h[k] as number;
    return {
      identity: h.identity as SearchIdentity,
      words: num('words'),
      store: { capacity: num('capacity'), count: num('count'), table: arr('table') as Uint32Array, parent: arr('parent') as Int32Array, action: arr('action') as StoreSnapshot['action'] },
      cur: arr('cur') as Uint32Array,
      curN: num('curN'),
      next: arr('next') as Uint32Array,
      nextN: num('nextN'),
      levelStart: num('levelStart'),
      b0: num('b0'),
      expanded: arrays.get('expanded') instanceof Int32Array ? (arrays.get('expanded') as Int32Array) : new Int32Array(0),
      depth: num('depth'),
      transitions: num('transitions'),
      elapsedMs: num('elapsedMs'),
      fired: arr('fired') as Uint8Array,
      premiseCounts: h.premiseCounts as number[],
      violations: h.violations as RawViolation[],
      violationWords: arr('violationWords') as Uint32Array,
    };
  } finally {
    closeSync(fd);
  }
}

/**
 * What a resumed search takes over from its checkpoint besides the store and
 * the levels, into the explorer's own arrays (explore.ts and parallel.ts):
 * the actions that fired, the premise counts and the violations found, whose
 * states `keep` files by id. Refuses a checkpoint of another search.
 */
export function takeOver(
  resume: CheckpointData,
  now: SearchIdentity,
  into: { fired: Uint8Array; premiseCounts: number[]; violations: RawViolation[]; violated: Set<string>; keep: (id: number, b: Uint32Array, bo: number) => void },
): void {
  const why = identityMismatch(resume.identity, now);
  if (why) throw new CheckpointError(`cannot resume from this checkpoint: ${why}`);
  into.fired.set(resume.fired);
  resume.premiseCounts.forEach((c, i) => (into.premiseCounts[i] = c));
  resume.violations.forEach((v, i) => {
    into.violations.push(v);
    into.violated.add(v.name);
    into.keep(v.stateId, resume.violationWords, i * resume.words);
  });
}

/** Why a checkpoint cannot resume this search (undefined: it can). */
export function identityMismatch(saved: SearchIdentity, now: SearchIdentity): string | undefined {
  if (saved.model !== now.model) return `it was written for model ${saved.model}, not ${now.model}`;
  const p = (x: Record<string, unknown>) => JSON.stringify(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)));
  if (p(saved.params) !== p(now.params)) return `it was written with other parameters (${Object.entries(saved.params).map(([k, v]) => `${k}=${String(v)}`).join(' ')})`;
  if (saved.layout !== now.layout) return 'the model\'s state layout changed since it was written';
  for (const k of ['store', 'symmetry', 'all', 'noDeadlock'] as const)
    if (saved[k] !== now[k]) return `it was written with ${k} ${String(saved[k])}, this run has ${String(now[k])}`;
  return undefined;
}
