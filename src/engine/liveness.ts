/**
 * Liveness under fairness over the explicit state graph (graph.ts).
 *
 * Behaviours are the infinite paths of the graph: each step takes a
 * transition, and a state with no successor repeats forever (stuttering; a
 * state that is not a valid end state is also reported as a deadlock by the
 * safety search). An action instance is enabled in a state when it has a
 * transition there. Fairness is per action instance (an action's arguments
 * name the CPU, the page...):
 *   weak    if from some point on the instance is enabled in every state,
 *           it is taken infinitely often ("a CPU that can run runs");
 *   strong  if it is enabled infinitely often, it is taken infinitely often
 *           ("an IPI that keeps being deliverable is delivered").
 *
 * A property `from ~> to` (leads-to; `eventually to` is `init ~> to`) fails
 * when some reachable state satisfies `from` and not `to`, and a fair
 * behaviour goes on from it on which `to` never holds. Such a behaviour ends
 * in a fair strongly connected component of the subgraph of ¬to states (or
 * stutters in a ¬to state with no successor). A component C is fair when
 *   - every strongly fair instance enabled somewhere in C is taken on an
 *     edge inside C; otherwise the states where it is enabled are dropped
 *     and what is left is split into components again (Emerson–Lei), and
 *   - no weakly fair instance is enabled in every state of C without being
 *     taken inside C (then no part of C is fair: the instance is enabled in
 *     every state of every cycle of C).
 * A fair component has a fair cycle: one through an edge of every fair
 * instance taken in C and through a state where each weakly fair instance
 * not taken in C is disabled (lassoIn). The counterexample is a lasso: the
 * BFS-shortest stem to the first offending `from` state (lowest id), the
 * shortest path inside ¬to to the component, and that cycle.
 */
import type { StateGraph } from './graph.js';

export const NOT_FAIR = 0;
export const WEAK = 1;
export const STRONG = 2;

export interface Lasso {
  /** Instance ids from the initial state: stem, then the cycle (which ends where it started). */
  readonly path: readonly number[];
  /** Steps of `path` before the cycle (the state after them is where the cycle starts and ends). */
  readonly loopStart: number;
  /** The offending `from` state: after this many steps of `path`. */
  readonly fromAt: number;
}

/**
 * Whether `from ~> to` holds on graph g under `fairness` (per instance:
 * NOT_FAIR, WEAK or STRONG); `isFrom` and `isTo` say it per state id. A
 * violation is returned as a lasso.
 */
export function leadsTo(g: StateGraph, fairness: Uint8Array, isFrom: (id: number) => boolean, isTo: (id: number) => boolean, expanded = g.n): Lasso | undefined {
  const { n } = g;
  const inSub = new Uint8Array(n);
  for (let i = 0; i < expanded; i++) inSub[i] = isTo(i) ? 0 : 1;
  // Fair components of the ¬to subgraph, and ¬to states without successors.
  const fairComp = new Int32Array(n).fill(-1);
  const comps: Int32Array[] = [];
  for (const c of fairComponents(g, inSub, fairness)) {
    for (const s of c) fairComp[s] = comps.length;
    comps.push(c);
  }
  for (let i = 0; i < n; i++)
    if (inSub[i] && g.first[i] === g.first[i + 1]) {
      fairComp[i] = comps.length;
      comps.push(Int32Array.of(i));
    }
  if (comps.length === 0) return undefined;
  // States of ¬to that reach a fair component inside ¬to (backward search).
  const rev = reverse(g, inSub);
  const reach = new Uint8Array(n);
  const queue: number[] = [];
  for (let i = 0; i < n; i++)
    if (fairComp[i] >= 0) {
      reach[i] = 1;
      queue.push(i);
    }
  for (let q = 0; q < queue.length; q++) {
    const t = queue[q]!;
    for (let e = rev.first[t]!; e < rev.first[t + 1]!; e++) {
      const s = rev.src[e]!;
      if (!reach[s]) {
        reach[s] = 1;
        queue.push(s);
      }
    }
  }
  let start = -1;
  for (let i = 0; i < n && start < 0; i++) if (reach[i] && isFrom(i)) start = i;
  if (start < 0) return undefined;
  const stem = pathFromInit(g, start);
  // Shortest path inside ¬to from start to a fair component.
  const toComp = bfsPath(g, start, (s) => fairComp[s]! >= 0, (s) => inSub[s] === 1);
  if (!toComp) throw new Error('liveness: a state that reaches a fair component has no path to it');
  const entry = toComp.end;
  const comp = comps[fairComp[entry]!]!;
  const cycle = lassoIn(g, fairness, comp, entry);
  return { path: [...stem, ...toComp.path, ...cycle], loopStart: stem.length + toComp.path.length, fromAt: stem.length };
}

/** The fair components of the subgraph `mask` (a 0/1 mask of states), as lists of states. */
export function fairComponents(g: StateGraph, mask: Uint8Array, fairness: Uint8Array): Int32Array[] {
  const out: Int32Array[] = [];
  const nInst = fairness.length;
  const taken = new Int32Array(nInst).fill(-1);
  const enabledAt = new Int32Array(nInst);
  /** The state (id + 1) whose edges last counted the instance (an instance has several edges out of a state only with nondeterministic effects). */
  const seenAt = new Int32Array(nInst);
  let stamp = 0;
  const tarjan = sccFinder(g);
  const work: Int32Array[] = tarjan(mask);
  const inComp = new Uint8Array(g.n);
  let subMask: Uint8Array | undefined;
  while (work.length) {
    const c = work.pop()!;
    stamp++;
    for (const s of c) inComp[s] = 1;
    // Nontrivial: a cycle exists (two or more states, or a self-loop).
    let cyclic = c.length > 1;
    const mark = stamp;
    for (const s of c)
      for (let e = g.first[s]!; e < g.first[s + 1]!; e++) {
        const t = g.succ[e]!;
        if (inComp[t]) {
          taken[g.inst[e]!] = mark;
          if (t === s) cyclic = true;
        }
      }
    let drop: number[] | undefined;
    let weakUnfair = false;
    if (cyclic) {
      // Per instance enabled somewhere in c: in how many of its states.
      const touched: number[] = [];
      for (const s of c)
        for (let e = g.first[s]!; e < g.first[s + 1]!; e++) {
          const k = g.inst[e]!;
          if (seenAt[k] === s + 1) continue;
          seenAt[k] = s + 1;
          if (enabledAt[k]++ === 0) touched.push(k);
        }
      for (const k of touched) {
        if (taken[k] !== mark) {
          if (fairness[k] === STRONG) (drop ??= []).push(k);
          else if (fairness[k] === WEAK && enabledAt[k] === c.length) weakUnfair = true;
        }
        enabledAt[k] = 0;
        seenAt[k] = 0;
      }
    }
    for (const s of c) inComp[s] = 0;
    if (!cyclic || (weakUnfair && !drop)) continue;
    if (drop) {
      // Emerson–Lei: a fair cycle of c avoids every state where a strongly fair instance not taken in c is enabled.
      const bad = new Uint8Array(nInst);
      for (const k of drop) bad[k] = 1;
      // (sub is all 0 outside c: cleared after each use.)
      const sub = subMask ??= new Uint8Array(g.n);
      let left = 0;
      for (const s of c) {
        let ok = true;
        for (let e = g.first[s]!; e < g.first[s + 1]! && ok; e++) if (bad[g.inst[e]!]) ok = false;
        if (ok) {
          sub[s] = 1;
          left++;
        }
      }
      if (left) work.push(...tarjan(sub, c));
      for (const s of c) sub[s] = 0;
      continue;
    }
    out.push(c);
  }
  return out;
}

/**
 * Strongly connected components of a subgraph (iterative Tarjan). The
 * arrays are allocated once and reset after each call for the states it
 * visited, so the refinements of fairComponents cost what they visit.
 */
function sccFinder(g: StateGraph): (mask: Uint8Array, only?: Int32Array) => Int32Array[] {
  const { n, first, succ } = g;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  return (mask, only) => {
    const stack: number[] = [];
    const call: number[] = []; // pairs: state, next edge
    const out: Int32Array[] = [];
    let next = 0;
    const roots = only ? only.length : n;
    for (let ri = 0; ri < roots; ri++) {
      const r = only ? only[ri]! : ri;
      if (!mask[r] || index[r]! >= 0) continue;
      index[r] = low[r] = next++;
      stack.push(r);
      onStack[r] = 1;
      call.push(r, first[r]!);
      while (call.length) {
        const v = call[call.length - 2]!;
        const e = call[call.length - 1]!;
        if (e < first[v + 1]!) {
          call[call.length - 1] = e + 1;
          const w = succ[e]!;
          if (!mask[w]) continue;
          if (index[w]! < 0) {
            index[w] = low[w] = next++;
            stack.push(w);
            onStack[w] = 1;
            call.push(w, first[w]!);
          } else if (onStack[w]) low[v] = Math.min(low[v]!, index[w]!);
          continue;
        }
        call.length -= 2;
        if (call.length) {
          const u = call[call.length - 2]!;
          low[u] = Math.min(low[u]!, low[v]!);
        }
        if (low[v] === index[v]) {
          const comp: number[] = [];
          let w: number;
          do {
            w = stack.pop()!;
            onStack[w] = 0;
            comp.push(w);
          } while (w !== v);
          out.push(Int32Array.from(comp));
        }
      }
    }
    for (const c of out) for (const v of c) index[v] = -1;
    return out;
  };
}

/** Reverse edges of the subgraph `mask`: the sources of edges into t are src[first[t] .. first[t+1]). */
function reverse(g: StateGraph, mask: Uint8Array): { first: Int32Array; src: Int32Array } {
  const { n } = g;
  const first = new Int32Array(n + 1);
  for (let s = 0; s < n; s++) {
    if (!mask[s]) continue;
    for (let e = g.first[s]!; e < g.first[s + 1]!; e++) if (mask[g.succ[e]!]) first[g.succ[e]! + 1]!++;
  }
  for (let i = 0; i < n; i++) first[i + 1]! += first[i]!;
  const at = first.slice(0, n);
  const src = new Int32Array(first[n]!);
  for (let s = 0; s < n; s++) {
    if (!mask[s]) continue;
    for (let e = g.first[s]!; e < g.first[s + 1]!; e++) {
      const t = g.succ[e]!;
      if (mask[t]) src[at[t]!++] = s;
    }
  }
  return { first, src };
}

/** Instances from the initial state to `id` along the BFS tree (a shortest path). */
function pathFromInit(g: StateGraph, id: number): number[] {
  const path: number[] = [];
  for (let s = id; g.parent[s]! >= 0; s = g.parent[s]!) path.push(g.via[s]!);
  return path.reverse();
}

/** A shortest path from `from` (0 steps if it is a goal) to a goal state, through states `allowed`. */
function bfsPath(g: StateGraph, from: number, goal: (s: number) => boolean, allowed: (s: number) => boolean): { path: number[]; end: number } | undefined {
  if (goal(from)) return { path: [], end: from };
  const prev = new Map<number, [number, number]>([[from, [-1, -1]]]);
  const queue = [from];
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q]!;
    for (let e = g.first[s]!; e < g.first[s + 1]!; e++) {
      const t = g.succ[e]!;
      if (prev.has(t) || !allowed(t)) continue;
      prev.set(t, [s, g.inst[e]!]);
      if (goal(t)) {
        const path: number[] = [];
        for (let x = t; x !== from; x = prev.get(x)![0]) path.push(prev.get(x)![1]);
        return { path: path.reverse(), end: t };
      }
      queue.push(t);
    }
  }
  return undefined;
}

/** Instances of a shortest cycle from `entry` back to it through states `allowed` (one breadth-first search). */
function shortestCycle(g: StateGraph, entry: number, allowed: (s: number) => boolean): number[] | undefined {
  const prev = new Map<number, [number, number]>();
  const queue = [entry];
  for (let q = 0; q < queue.length; q++) {
    const s = queue[q]!;
    for (let e = g.first[s]!; e < g.first[s + 1]!; e++) {
      const t = g.succ[e]!;
      if (t === entry) {
        const path = [g.inst[e]!];
        for (let x = s; x !== entry; x = prev.get(x)![0]) path.push(prev.get(x)![1]);
        return path.reverse();
      }
      if (prev.has(t) || !allowed(t)) continue;
      prev.set(t, [s, g.inst[e]!]);
      queue.push(t);
    }
  }
  return undefined;
}

/**
 * Whether the cycle of instances `path` from `entry` is fair: each strongly
 * fair instance enabled in one of its states, and each weakly fair one
 * enabled in all of them, is taken on it.
 */
function fairCycle(g: StateGraph, fairness: Uint8Array, entry: number, path: readonly number[]): boolean {
  const states: number[] = [];
  let x = entry;
  for (const k of path) {
    states.push(x);
    let next = -1;
    for (let e = g.first[x]!; e < g.first[x + 1]! && next < 0; e++) if (g.inst[e] === k) next = g.succ[e]!;
    if (next < 0) return false;
    x = next;
  }
  // (Followed by instance, as a replay does: with a nondeterministic effect that may be another cycle.)
  if (x !== entry) return false;
  const taken = new Set(path);
  const count = new Map<number, number>();
  for (const s of states) {
    const here = new Set<number>();
    for (let e = g.first[s]!; e < g.first[s + 1]!; e++) here.add(g.inst[e]!);
    for (const k of here) count.set(k, (count.get(k) ?? 0) + 1);
  }
  for (const [k, c] of count) {
    if (taken.has(k)) continue;
    if (fairness[k] === STRONG || (fairness[k] === WEAK && c === states.length)) return false;
  }
  return true;
}

/**
 * A fair cycle of the fair component `comp` from and back to `entry`: it
 * takes one edge of every fair instance taken inside comp, and visits a
 * state where each weakly fair instance not taken inside comp is disabled.
 * A state without successors stutters: the empty cycle.
 */
export function lassoIn(g: StateGraph, fairness: Uint8Array, comp: Int32Array, entry: number): number[] {
  if (g.first[entry] === g.first[entry + 1]) return [];
  const inC = new Set<number>(comp);
  // The shortest cycle through entry, when it is fair by itself (the usual case: easier to read).
  const short = shortestCycle(g, entry, (s) => inC.has(s));
  if (short && fairCycle(g, fairness, entry, short)) return short;
  const nInst = fairness.length;
  // One edge (src, instance, dst) per fair instance taken inside comp.
  const edgeOf = new Map<number, [number, number]>();
  for (const s of comp)
    for (let e = g.first[s]!; e < g.first[s + 1]!; e++) {
      const k = g.inst[e]!;
      if (fairness[k] !== NOT_FAIR && inC.has(g.succ[e]!) && !edgeOf.has(k)) edgeOf.set(k, [s, e]);
    }
  // Weakly fair instances not taken inside comp: a state where each is disabled.
  const visits: number[] = [];
  for (let k = 0; k < nInst; k++) {
    if (fairness[k] !== WEAK || edgeOf.has(k)) continue;
    let where = -1;
    for (const s of comp) {
      let en = false;
      for (let e = g.first[s]!; e < g.first[s + 1]! && !en; e++) if (g.inst[e] === k) en = true;
      if (!en) {
        where = s;
        break;
      }
    }
    if (where >= 0 && !visits.includes(where)) visits.push(where);
  }
  const path: number[] = [];
  let at = entry;
  // (An instance or state the path has met already needs no detour.)
  const met = new Set<number>();
  const seen = new Set<number>([entry]);
  const step = (k: number, to: number) => {
    path.push(k);
    met.add(k);
    seen.add(to);
    at = to;
  };
  const walk = (target: number) => {
    const p = bfsPath(g, at, (s) => s === target, (s) => inC.has(s));
    if (!p) throw new Error('liveness: a component is not strongly connected');
    let x = at;
    for (const k of p.path) {
      for (let e = g.first[x]!; e < g.first[x + 1]!; e++)
        if (g.inst[e] === k && inC.has(g.succ[e]!)) {
          x = g.succ[e]!;
          break;
        }
      step(k, x);
    }
    at = target;
  };
  for (const [k, [s, e]] of edgeOf) {
    if (met.has(k)) continue;
    walk(s);
    step(g.inst[e]!, g.succ[e]!);
  }
  for (const s of visits) if (!seen.has(s)) walk(s);
  if (path.length === 0 || at !== entry) {
    // Back to the entry; a cycle takes at least one step.
    if (at === entry) {
      // Any edge inside comp out of entry, then back.
      for (let e = g.first[entry]!; e < g.first[entry + 1]!; e++)
        if (inC.has(g.succ[e]!)) {
          step(g.inst[e]!, g.succ[e]!);
          break;
        }
    }
    walk(entry);
  }
  return path;
}
