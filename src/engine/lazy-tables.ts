/**
 * Lazily tabulated guards, effects and invariants: the decision trees of
 * tabulate.ts, grown only along the paths that reachable states take.
 *
 * tabulate.ts builds each action instance's whole tree up front, by running
 * the guard and effect once per value of every leaf they read. The TLB
 * models' walks and flushes read dozens of leaves, so their whole trees are
 * far past any budget, while the states a search reaches take only a small
 * part of them. Here a tree starts empty. Evaluating a job (guard + effect,
 * or an invariant case) on a packed state follows the tree from its root:
 * a read node tests one leaf's stored bits and goes to the child for that
 * value. A child not built yet is a miss: the job then runs once on a
 * recording view (tabulate.ts Recorder) whose leaves take the state's own
 * values, and the path it took (the leaves it read, in order, with their
 * values, and how it ended) is added to the tree. Later states that agree
 * on those leaves follow the same path without running the model.
 *
 * Sound for the same reason as tabulate.ts: a guard and effect that depend
 * on nothing but the state, the parameters and their arguments take the
 * same path on the same values of the leaves they read, and write the same
 * constants. A run whose reads disagree with the path already in the tree
 * (hidden state in the model) or that cannot be recorded (a guard that
 * writes, a kept view) switches the tables off: every state then goes
 * through the views (BAIL). The explorer also cross-checks sampled states
 * against the views (batch.ts), as for the eager tables.
 *
 * Storage is one flat Int32Array T, so a tree of millions of nodes costs
 * no GC and a walk touches one array; a node is an offset into T:
 *   read node  T[n] = word ≥ 0, T[n+1] = shift, T[n+2] = mask, T[n+3] =
 *              leaf index, T[n+4+value] = child (-1 = not built yet);
 *   end node   T[n] = OFF / BAIL / ON (< 0), and for ON T[n+1] = offset
 *              in eff of its writes: count m, then m × (word, keep mask,
 *              set bits), so out = (word & keep) | set.
 * Past MAX_CELLS cells a tree set stops growing: a miss then answers BAIL
 * and the state is expanded through the views.
 */
import type { Layout } from './layout.js';
import type { StateDecl } from './types.js';
import { BAIL, Recorder, shapeOf, Unrecordable, wordMasks, type BitExpand, type BitInvariants, type Job, type Outcome } from './tabulate.js';

const OFF = -1;
const BAILED = -2;
const ON = -3;
const READ_HEADER = 4;

/** Size cap of one set of lazy trees, in 4-byte cells (1 GiB). */
export const MAX_CELLS = 1 << 28;

export interface LazyTrees {
  /** The end node job j reaches on the state at bw[bo..]: read nodes followed, a miss recorded. */
  resolve(j: number, bw: Uint32Array, bo: number): number;
  /** How the tables stand: 'lazy (N nodes)', or why they were switched off. */
  note(): string;
  nodeCount(): number;
  /** The tables were switched off (every state through the views). */
  readonly broken: boolean;
}

class LazyTreeSet implements LazyTrees {
  /** The nodes (see the file comment). */
  T: Int32Array<ArrayBuffer> = new Int32Array(4096);
  used = 0;
  nodes = 0;
  eff: Int32Array<ArrayBuffer> = new Int32Array(1024);
  effUsed = 0;
  readonly roots: Int32Array;
  broken = false;
  full = false;
  reason = '';
  private readonly lw: Int32Array;
  private readonly ls: Int32Array;
  private readonly lm: Int32Array;
  private readonly shape: ReturnType<typeof shapeOf>;
  private readonly vals: number[] = [];

  constructor(
    private readonly jobs: readonly Job[],
    private readonly layout: Layout<StateDecl>,
    private readonly maxCells = MAX_CELLS,
  ) {
    this.roots = new Int32Array(jobs.length).fill(-1);
    const L = layout.leaves;
    this.lw = Int32Array.from(L, (l) => l.word);
    this.ls = Int32Array.from(L, (l) => l.shift);
    this.lm = Int32Array.from(L, (l) => 2 ** l.bits - 1);
    this.shape = shapeOf(L);
  }

  note(): string {
    if (this.broken) return `lazy tables switched off: ${this.reason}`;
    return `lazy (${this.nodes} nodes${this.full ? ', full: further misses go through the views' : ''})`;
  }
  nodeCount(): number {
    return this.nodes;
  }

  resolve(j: number, bw: Uint32Array, bo: number): number {
    let id = this.roots[j]!;
    if (id < 0) return this.miss(j, bw, bo);
    const T = this.T;
    for (;;) {
      const wd = T[id]!;
      if (wd < 0) return id;
      const c = T[id + READ_HEADER + ((bw[bo + wd]! >>> T[id + 1]!) & T[id + 2]!)]!;
      if (c < 0) return this.miss(j, bw, bo);
      id = c;
    }
  }

  private grow(a: Int32Array<ArrayBuffer>, need: number): Int32Array<ArrayBuffer> {
    if (need <= a.length) return a;
    let n = a.length * 2;
    while (n < need) n *= 2;
    const b = new Int32Array(n);
    b.set(a);
    return b;
  }

  private alloc(cells: number): number {
    const id = this.used;
    this.T = this.grow(this.T, id + cells);
    this.used += cells;
    this.nodes++;
    return id;
  }

  private newRead(leaf: number): number {
    const values = this.lm[leaf]! + 1;
    const id = this.alloc(READ_HEADER + values);
    const T = this.T;
    T[id] = this.lw[leaf]!;
    T[id + 1] = this.ls[leaf]!;
    T[id + 2] = this.lm[leaf]!;
    T[id + 3] = leaf;
    T.fill(-1, id + READ_HEADER, id + READ_HEADER + values);
    return id;
  }

  private newEnd(o: Outcome): number {
    const id = this.alloc(2);
    if (o.kind !== 'on') {
      this.T[id] = o.kind === 'off' ? OFF : BAILED;
      return id;
    }
    const { clear, set } = wordMasks(o.writes, this.layout.leaves, this.layout.words);
    const words = clear.flatMap((c, k) => (c === 0 ? [] : [k]));
    const at = this.effUsed;
    this.eff = this.grow(this.eff, at + 1 + 3 * words.length);
    this.eff[at] = words.length;
    words.forEach((k, i) => {
      this.eff[at + 1 + 3 * i] = k;
      this.eff[at + 2 + 3 * i] = ~clear[k]!;
      this.eff[at + 3 + 3 * i] = set[k]! | 0;
    });
    this.effUsed += 1 + 3 * words.length;
    this.T[id] = ON;
    this.T[id + 1] = at;
    return id;
  }

  private switchOff(reason: string): number {
    this.broken = true;
    this.reason = reason;
    return this.bailNode();
  }

  /** A shared BAIL end for answers that are not recorded. */
  private bail = -1;
  private bailNode(): number {
    if (this.bail < 0) {
      this.bail = this.alloc(2);
      this.T[this.bail] = BAILED;
    }
    return this.bail;
  }

  /** Run job j on the state's own values and add the path it took; returns its end node. */
  private miss(j: number, bw: Uint32Array, bo: number): number {
    if (this.broken || this.full) return this.bailNode();
    if (this.used >= this.maxCells) {
      this.full = true;
      return this.bailNode();
    }
    const job = this.jobs[j]!;
    const { lw, ls, lm, vals } = this;
    vals.length = 0;
    const rec = new Recorder(this.layout.leaves, this.shape);
    let outcome: Outcome;
    try {
      outcome = rec.runFrom(
        (i) => {
          const v = (bw[bo + lw[i]!]! >>> ls[i]!) & lm[i]!;
          vals.push(v);
          return v;
        },
        job.test,
        job.effect,
      );
    } catch (e) {
      if (e instanceof Unrecordable) return this.switchOff(`${job.label}: ${e.message}`);
      throw e;
    } finally {
      rec.close();
    }
    const reads = rec.reads;
    // Walk the path from the root, building what is missing. slot < 0
    // stands for roots[-1 - slot], else T[slot].
    let slot = -1 - j;
    const get = (sl: number) => (sl < 0 ? this.roots[-1 - sl]! : this.T[sl]!);
    const put = (sl: number, id: number) => void (sl < 0 ? (this.roots[-1 - sl] = id) : (this.T[sl] = id));
    for (let k = 0; k < reads.length; k++) {
      let id = get(slot);
      if (id < 0) {
        id = this.newRead(reads[k]!);
        put(slot, id);
      } else if (this.T[id]! < 0 || this.T[id + 3] !== reads[k]) {
        return this.switchOff(`${job.label} read ${this.layout.leaves[reads[k]!]!.path} where an earlier run on the same values ${this.describeNode(id)}: it depends on more than the state`);
      }
      slot = id + READ_HEADER + vals[k]!;
    }
    const end = get(slot);
    if (end >= 0) return this.switchOff(`${job.label} ended where an earlier run on the same values ${this.describeNode(end)}: it depends on more than the state`);
    const id = this.newEnd(outcome);
    put(slot, id);
    return id;
  }

  private describeNode(id: number): string {
    return this.T[id]! >= 0 ? `read ${this.layout.leaves[this.T[id + 3]!]!.path}` : 'ended';
  }
}

export function lazyTrees(jobs: readonly Job[], layout: Layout<StateDecl>, maxCells?: number): LazyTreeSet {
  return new LazyTreeSet(jobs, layout, maxCells);
}

/**
 * The successor function over lazy trees of the action instances (jobs in
 * instance order, ids[k] = instance id of job k): same contract as the
 * eager BitExpand, BAIL when some instance's path ends in a bail (or the
 * tables are off or full at a miss).
 */
export function lazyBitExpand(t: LazyTreeSet, ids: readonly number[], W: number): BitExpand {
  const n = ids.length;
  const idOf = Int32Array.from(ids);
  return function lazyExpand(bw, bo, out, ks, n0) {
    let m = n0 | 0;
    for (let k = 0; k < n; k++) {
      const id = t.resolve(k, bw, bo);
      const T = t.T;
      const kind = T[id]!;
      if (kind === OFF) continue;
      if (kind === BAILED) return BAIL;
      const o = m * W;
      for (let i = 0; i < W; i++) out[o + i] = bw[bo + i]!;
      const eff = t.eff;
      let e = T[id + 1]!;
      const c = eff[e++]!;
      for (let i = 0; i < c; i++, e += 3) {
        const wd = o + eff[e]!;
        out[wd] = (out[wd]! & eff[e + 1]!) | eff[e + 2]!;
      }
      ks[m++] = idOf[k]!;
    }
    return m;
  };
}

/**
 * The invariant check over lazy trees of invariantJobs(invariants): -1 when
 * a case fails or bails (the views decide), else the premise mask.
 * `cases[i]` = number of cases of invariant i; hasPremise[i] whether a
 * premise job follows them.
 */
export function lazyBitInvariants(t: LazyTreeSet, cases: readonly number[], hasPremise: readonly boolean[]): BitInvariants {
  const nInv = cases.length;
  const nCases = Int32Array.from(cases);
  const prem = Uint8Array.from(hasPremise, (b) => (b ? 1 : 0));
  return function lazyInvariants(bw, bo) {
    let j = 0;
    let mask = 0;
    for (let i = 0; i < nInv; i++) {
      for (let c = nCases[i]!; c > 0; c--) if (t.T[t.resolve(j++, bw, bo)] !== ON) return -1;
      if (prem[i]) {
        const kind = t.T[t.resolve(j++, bw, bo)];
        if (kind === BAILED) return -1;
        if (kind === ON) mask |= 1 << i;
      }
    }
    return mask;
  };
}
