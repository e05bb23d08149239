/**
 * The whole reachable state graph, kept explicitly for liveness checking
 * (liveness.ts): every transition as an edge (compressed sparse rows: the
 * successors of state i are succ[first[i] .. first[i+1]), made by instance
 * inst[e]), and per state what the properties say of it (`label`, called
 * once per state as it is added).
 *
 * Breadth-first from the initial state, so ids are in BFS order and the
 * parent links give shortest paths (the stem of a lasso). Successors come
 * from the explorer's batch (batch.ts), the same generated or tabulated
 * code as the safety search, so the graph is the state space `tlbcheck`
 * checks. No reduction applies: fairness speaks of every action instance,
 * which symmetry would merge and partial-order reduction prune.
 *
 * The visited set is an open-addressing table of ids (at most half full)
 * over what is kept per state:
 *   exact        the packed words, W·4 B per state;
 *   fingerprint  the 64-bit fingerprint of --store fingerprint
 *                (fingerprint-store.ts: the home hash and FP_SEED), 8 B per
 *                state; the words only of states not expanded yet (the
 *                BFS queue). Two states with one fingerprint merge into one
 *                node, with the omission probability of hash compaction; a
 *                lasso is checked by replay before it is reported
 *                (check-liveness.ts), so a merge can cost a verdict,
 *                never make up a counterexample.
 * Then 8 B of table (4 B slots, at most half full), 12 B for the parent
 * link, instance and first[], and 6 B per transition (succ, and inst as 16 bits; 8 B past
 * 65,536 instances). Limits stop the build (incomplete).
 */
import { createBatch } from './batch.js';
import type { CompiledModel } from './compile.js';
import { packInitial } from './explore.js';
import { FP_SEED } from './fingerprint-store.js';
import { HASH_SEED } from './store.js';

export interface StateGraph {
  readonly n: number;
  readonly first: Int32Array;
  readonly succ: Int32Array;
  readonly inst: Int32Array | Uint16Array;
  /** BFS tree: the parent of state i (-1 for the initial state) and the instance that reached it. */
  readonly parent: Int32Array;
  readonly via: Int32Array;
}

export interface GraphLimits {
  maxStates?: number;
  /** Bytes the graph may take (words, table, links and edges). */
  memoryLimitBytes?: number;
  /** Wall-clock deadline (performance.now()). */
  deadline?: number;
  signal?: AbortSignal;
  /**
   * Called as the build goes, on the graph so far: its first `expanded`
   * states have all their edges, the others (ids up to g.n) none yet. A
   * counterexample on that part is one on the whole graph (liveness.ts).
   * Returning true stops the build there. Called when `prefixFirst`
   * (4096) states are expanded, then each time that count has grown
   * fourfold, so the calls cost at most a third of one call on the whole
   * graph.
   */
  onPrefix?: (g: StateGraph, expanded: number) => boolean;
  prefixFirst?: number;
}

export interface GraphOptions extends GraphLimits {
  /** Keep 64-bit fingerprints of the states instead of their words. */
  fingerprint?: boolean;
  /** Called once per state, with its words at b[bo..], as it gets id `id`. */
  label?: (b: Uint32Array, bo: number, id: number) => void;
  /** Bytes the caller keeps per state beside the graph (what `label` records), counted toward memoryLimitBytes. */
  extraBytes?: () => number;
}

export type GraphLimit = 'max-states' | 'memory' | 'time-limit' | 'interrupted';


type IntArray = Int32Array | Uint16Array;

/** A growing array of ints (Int32Array, or Uint16Array for instance ids). */
class Grow<A extends IntArray> {
  n = 0;
  constructor(
    public a: A,
    private readonly make: (n: number) => A,
  ) {}
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = this.make(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  bytes(): number {
    return this.a.byteLength;
  }
}
const grow32 = (cap: number) => new Grow(new Int32Array(cap), (n) => new Int32Array(n));

/** The graph's states up to n, the first first.n of them expanded; first[] is padded so the others have no edges. */
function prefix(n: number, first: Grow<Int32Array>, succ: Grow<Int32Array>, inst: Grow<IntArray>, parent: Grow<Int32Array>, via: Grow<Int32Array>): StateGraph {
  const f = new Int32Array(n + 1);
  f.set(first.a.subarray(0, first.n));
  f.fill(succ.n, first.n);
  return { n, first: f, succ: succ.a.subarray(0, succ.n), inst: inst.a.subarray(0, inst.n), parent: parent.a.subarray(0, n), via: via.a.subarray(0, n) };
}

/**
 * The graph, and how many of its states (the first, in id order) have all
 * their edges: all of them unless a limit or onPrefix stopped the build.
 */
export function buildGraph(model: CompiledModel, lim: GraphOptions = {}): { graph: StateGraph; expanded: number; limit?: GraphLimit; stopped?: true } {
  const { layout } = model;
  const W = layout.words;
  const hash = layout.hash;
  const fp = lim.fingerprint === true;
  const batch = createBatch(model, undefined);
  const maxStates = lim.maxStates ?? Infinity;
  const memoryLimit = lim.memoryLimitBytes ?? Infinity;
  /**
   * exact: the words of every state, state i at i·W. fingerprint: the
   * words of states qBase.. (the queue), state i at (i - qBase)·W, and
   * fps[2i], fps[2i+1] the two halves of every state's fingerprint.
   */
  let words = new Uint32Array(1024 * W);
  let qBase = 0;
  let fps = new Uint32Array(fp ? 2048 : 0);
  let n = 0;
  let bits = 12;
  let table = new Int32Array(1 << bits); // id + 1, 0 = empty
  const parent = grow32(1024);
  const via = grow32(1024);
  const first = grow32(1024);
  const succ = grow32(4096);
  const inst: Grow<IntArray> = model.instances.length <= 65536 ? new Grow<IntArray>(new Uint16Array(4096), (k) => new Uint16Array(k)) : grow32(4096);
  const bytes = () => words.byteLength + fps.byteLength + table.byteLength + parent.bytes() + via.bytes() + first.bytes() + succ.bytes() + inst.bytes() + (lim.extraBytes?.() ?? 0);

  const same = (b: Uint32Array, bo: number, id: number) => {
    const o = id * W;
    for (let k = 0; k < W; k++) if (words[o + k] !== b[bo + k]) return false;
    return true;
  };
  const place = (t: Int32Array, mask: number, h: number, id: number) => {
    let i = h & mask;
    while (t[i] !== 0) i = (i + 1) & mask;
    t[i] = id + 1;
  };
  /** Room for one more state's words at the end of the words array. */
  const roomForOne = () => {
    const used = (n - qBase) * W;
    if (used + W <= words.length) return;
    // fingerprint: drop the words of expanded states first (those before `done`).
    // (When the queue still takes over half the array, it grows too, so moving it costs O(1) per state.)
    if (fp && done > qBase) {
      words.copyWithin(0, (done - qBase) * W, used);
      qBase = done;
      if ((n - qBase) * W + W <= words.length / 2) return;
    }
    const nw = new Uint32Array(Math.max(words.length * 2, ((n - qBase) * W + W) * 2));
    nw.set(words.subarray(0, (n - qBase) * W));
    words = nw;
  };
  /** The id of the state at b[bo..], adding it (parent p, instance k) if new; -1: the graph is full. */
  const idOf = (b: Uint32Array, bo: number, p: number, k: number): number => {
    const mask = table.length - 1;
    const h = hash(b, bo, HASH_SEED);
    const h2 = fp ? hash(b, bo, FP_SEED) : 0;
    let i = h & mask;
    for (;;) {
      const e = table[i]!;
      if (e === 0) break;
      if (fp ? fps[2 * (e - 1)] === h && fps[2 * (e - 1) + 1] === h2 : same(b, bo, e - 1)) return e - 1;
      i = (i + 1) & mask;
    }
    if (n >= maxStates) return -1;
    roomForOne();
    const o = (n - qBase) * W;
    for (let k2 = 0; k2 < W; k2++) words[o + k2] = b[bo + k2]!;
    if (fp) {
      if (2 * n + 2 > fps.length) {
        const nf = new Uint32Array(fps.length * 2);
        nf.set(fps);
        fps = nf;
      }
      fps[2 * n] = h;
      fps[2 * n + 1] = h2;
    }
    table[i] = n + 1;
    parent.push(p);
    via.push(k);
    const id = n++;
    lim.label?.(b, bo, id);
    if (n * 2 > table.length) {
      bits++;
      const nt = new Int32Array(1 << bits);
      const nm = nt.length - 1;
      for (let j = 0; j < n; j++) place(nt, nm, fp ? fps[2 * j]! : hash(words, j * W, HASH_SEED), j);
      table = nt;
    }
    return id;
  };

  let limit: GraphLimit | undefined;
  let stopped: true | undefined;
  let done = 0;
  let nextPrefix = lim.prefixFirst ?? 4096;
  const b0 = new Uint32Array(W);
  packInitial(model, b0, 0);
  idOf(b0, 0, -1, 0);
  outer: while (done < n) {
    if (lim.signal?.aborted) {
      limit = 'interrupted';
      break;
    }
    if (lim.deadline !== undefined && performance.now() > lim.deadline) {
      limit = 'time-limit';
      break;
    }
    if (bytes() > memoryLimit) {
      limit = 'memory';
      break;
    }
    // (A batch ends where the next prefix is to be looked at.)
    const to = Math.min(n, done + batch.size, lim.onPrefix && nextPrefix > done ? nextPrefix : Infinity);
    // expand() reads the words array as it is now (new states are appended after it, or to a new array).
    const cur = words;
    const base = qBase;
    const total = batch.expand(cur, done - base, to - base, base);
    const { out, ks, ends } = batch;
    let i = 0;
    for (let j = done; j < to; j++) {
      first.push(succ.n);
      for (const e = ends[j - done]!; i < e; i++) {
        const id = idOf(out, i * W, j, ks[i]!);
        if (id < 0) {
          limit = 'max-states';
          // State j's edges are incomplete: it and those after it are not expanded.
          succ.n = first.a[j]!;
          inst.n = succ.n;
          first.n = j;
          done = j;
          break outer;
        }
        succ.push(id);
        inst.push(ks[i]!);
      }
    }
    if (i !== total) throw new Error('graph: successor count mismatch');
    done = to;
    if (lim.onPrefix && done >= nextPrefix && done < n) {
      nextPrefix = done * 4;
      if (lim.onPrefix(prefix(n, first, succ, inst, parent, via), done)) {
        stopped = true;
        break;
      }
    }
  }
  return {
    // (Views of the arrays as built: a whole graph is the prefix of all its states, and nothing is copied twice.)
    graph: prefix(n, first, succ, inst, parent, via),
    expanded: done,
    ...(limit ? { limit } : {}),
    ...(stopped ? { stopped } : {}),
  };
}
