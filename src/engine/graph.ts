/**
 * The whole reachable state graph, kept explicitly for liveness checking
 * (liveness.ts): every state's packed words by id, and every transition as
 * an edge (compressed sparse rows: the successors of state i are
 * succ[first[i] .. first[i+1]), made by instance inst[e]).
 *
 * Breadth-first from the initial state, so ids are in BFS order and the
 * parent links give shortest paths (the stem of a lasso). Successors come
 * from the explorer's batch (batch.ts), the same generated or tabulated
 * code as the safety search, so the graph is the state space `tlbcheck`
 * checks. The visited set is an open-addressing table of ids over the
 * words array. No reduction applies: fairness speaks of every action
 * instance, which symmetry would merge and partial-order reduction prune.
 *
 * Memory: W·4 B per state for the words, 4 B for the table slot (at most
 * 0.5 load), 8 B for the parent link and first[], and 8 B per transition
 * (succ and inst): the graph of a million states and ten million
 * transitions takes about 100 MB. Limits stop the build (incomplete).
 */
import { createBatch } from './batch.js';
import type { CompiledModel } from './compile.js';
import { packInitial } from './explore.js';
import { HASH_SEED } from './store.js';

export interface StateGraph {
  readonly n: number;
  readonly W: number;
  /** Words of state i at words[i*W ..]. */
  readonly words: Uint32Array;
  readonly first: Int32Array;
  readonly succ: Int32Array;
  readonly inst: Int32Array;
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
}

export type GraphLimit = 'max-states' | 'memory' | 'time-limit' | 'interrupted';

class Grow32 {
  a: Int32Array;
  n = 0;
  constructor(cap: number) {
    this.a = new Int32Array(cap);
  }
  push(v: number): void {
    if (this.n === this.a.length) {
      const b = new Int32Array(this.a.length * 2);
      b.set(this.a);
      this.a = b;
    }
    this.a[this.n++] = v;
  }
  done(): Int32Array {
    return this.a.slice(0, this.n);
  }
  bytes(): number {
    return this.a.byteLength;
  }
}

export function buildGraph(model: CompiledModel, lim: GraphLimits = {}): { graph: StateGraph; limit?: GraphLimit } {
  const { layout } = model;
  const W = layout.words;
  const hash = layout.hash;
  const batch = createBatch(model, undefined);
  const maxStates = lim.maxStates ?? Infinity;
  const memoryLimit = lim.memoryLimitBytes ?? Infinity;
  let words = new Uint32Array(1024 * W);
  let n = 0;
  let bits = 12;
  let table = new Int32Array(1 << bits); // id + 1, 0 = empty
  const parent = new Grow32(1024);
  const via = new Grow32(1024);
  const first = new Grow32(1024);
  const succ = new Grow32(4096);
  const inst = new Grow32(4096);
  const bytes = () => words.byteLength + table.byteLength + parent.bytes() + via.bytes() + first.bytes() + succ.bytes() + inst.bytes();

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
  /** The id of the state at b[bo..], adding it (parent p, instance k) if new; -1: the graph is full. */
  const idOf = (b: Uint32Array, bo: number, p: number, k: number): number => {
    const mask = table.length - 1;
    const h = hash(b, bo, HASH_SEED);
    let i = h & mask;
    for (;;) {
      const e = table[i]!;
      if (e === 0) break;
      if (same(b, bo, e - 1)) return e - 1;
      i = (i + 1) & mask;
    }
    if (n >= maxStates) return -1;
    if ((n + 1) * W > words.length) {
      const nw = new Uint32Array(words.length * 2);
      nw.set(words);
      words = nw;
    }
    for (let k2 = 0; k2 < W; k2++) words[n * W + k2] = b[bo + k2]!;
    table[i] = n + 1;
    parent.push(p);
    via.push(k);
    const id = n++;
    if (n * 2 > table.length) {
      bits++;
      const nt = new Int32Array(1 << bits);
      const nm = nt.length - 1;
      for (let j = 0; j < n; j++) place(nt, nm, hash(words, j * W, HASH_SEED), j);
      table = nt;
    }
    return id;
  };

  const b0 = new Uint32Array(W);
  packInitial(model, b0, 0);
  idOf(b0, 0, -1, 0);
  let limit: GraphLimit | undefined;
  let done = 0;
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
    const to = Math.min(n, done + batch.size);
    // expand() reads the words array as it is now; new states are appended after it.
    const cur = words;
    const total = batch.expand(cur, done, to, 0);
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
  }
  first.push(succ.n);
  return {
    graph: { n: done, W, words, first: first.done(), succ: succ.done(), inst: inst.done(), parent: parent.done(), via: via.done() },
    limit,
  };
}
