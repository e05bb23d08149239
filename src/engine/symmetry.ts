/**
 * Symmetry reduction, derived from the typed layout: a permutation of a
 * symmetric sort permutes every array index of that sort, maps every value
 * of a `ref` to that sort, and permutes the bits of every `setOf` it.
 *
 * The canonical representative of a packed state is the lexicographically
 * smallest packing over the whole group, computed exactly but fast:
 *  - the "main" sort (the CPUs, or the largest symmetric sort) is ordered by
 *    sorting its members on a permutation-invariant signature (their own
 *    leaves, whether a ref points at them, their bit in each set);
 *  - members with equal signatures are permuted among themselves only when
 *    the layout has leaves a signature cannot capture (two indices of the
 *    sort, or a ref/set of the sort inside a per-member array); otherwise
 *    swapping tied members provably leaves the state unchanged;
 *  - every permutation of the other symmetric sorts (pages, when asked) is
 *    enumerated.
 * So the representative is a function of the orbit and the reduced state
 * count equals the number of orbits.
 */
import type { Expand } from './compile.js';
import type { Layout, Leaf } from './layout.js';
import type { Sort, StateDecl, View } from './types.js';

export type SymmetryMode = 'none' | 'cpu' | 'all';

export interface Canonicalizer {
  /** The sorts permuted (names). */
  readonly sorts: readonly string[];
  /** Group order (number of permutations). */
  readonly groupSize: number;
  /** Write the canonical form of src[so..] into dst[dof..] (may alias). */
  canon(src: Uint32Array, so: number, dst: Uint32Array, dof: number): void;
  /** Apply one permutation of the main sort (member -> member) to src[so..], into dst[dof..] (no alias). */
  permute(src: Uint32Array, so: number, dst: Uint32Array, dof: number, perm: readonly number[]): void;
  /** Size of the main sort. */
  readonly mainSize: number;
}

function permutations(n: number): number[][] {
  if (n === 0) return [[]];
  const out: number[][] = [];
  for (const p of permutations(n - 1))
    for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

function leafSortOfValue(l: Leaf): Sort | undefined {
  if (l.type.kind === 'int') return l.type.ref;
  if (l.type.kind === 'set') return l.type.sort;
  return undefined;
}

export function makeCanonicalizer(layout: Layout<StateDecl>, mode: SymmetryMode): Canonicalizer | undefined {
  if (mode === 'none') return undefined;
  const leaves = layout.leaves;
  // Collect the symmetric sorts the layout mentions (by name).
  const sorts = new Map<string, Sort>();
  const note = (s: Sort | undefined) => {
    if (s && s.symmetric && s.size > 1 && (mode === 'all' || s.role === 'cpu')) sorts.set(s.name, s);
  };
  for (const l of leaves) {
    l.indexSorts.forEach(note);
    note(leafSortOfValue(l));
  }
  if (sorts.size === 0) return undefined;
  const list = [...sorts.values()];
  const main = list.find((s) => s.role === 'cpu') ?? list.reduce((a, b) => (b.size > a.size ? b : a));
  const others = list.filter((s) => s !== main);
  const W = layout.words;
  const L = leaves.length;
  const word = Int32Array.from(leaves, (l) => l.word);
  const shift = Int32Array.from(leaves, (l) => l.shift);
  const mask = Uint32Array.from(leaves, (l) => 2 ** l.bits - 1);
  const lo = Int32Array.from(leaves, (l) => l.lo);

  // Leaf lookup by field + indices.
  const byKey = new Map<string, number>();
  leaves.forEach((l, i) => byKey.set(`${l.field}[${l.indices.join(',')}]`, i));

  /** dst leaf of each leaf under one permutation per sort (perm[sortIndex][member]). */
  const sortIdx = new Map<string, number>();
  [main, ...others].forEach((s, i) => sortIdx.set(s.name, i));
  const leafTarget = (perms: readonly (readonly number[])[]): Int32Array =>
    Int32Array.from(leaves, (l) => {
      const idx = l.indices.map((x, k) => {
        const s = l.indexSorts[k];
        const si = s ? sortIdx.get(s.name) : undefined;
        return si === undefined ? x : perms[si]![x]!;
      });
      return byKey.get(`${l.field}[${idx.join(',')}]`)!;
    });
  /** How a leaf's value maps: 0 = unchanged, 1 = ref of sort k, 2 = set of sort k. */
  const valueKind = Int8Array.from(leaves, (l) => {
    const s = leafSortOfValue(l);
    if (!s || !sortIdx.has(s.name)) return 0;
    return l.type.kind === 'set' ? 2 : 1;
  });
  const valueSort = Int8Array.from(leaves, (l) => {
    const s = leafSortOfValue(l);
    return s && sortIdx.has(s.name) ? sortIdx.get(s.name)! : -1;
  });

  // Main-sort signature plan.
  const n = main.size;
  const mainPos = leaves.map((l) => l.indexSorts.flatMap((s, k) => (s && s.name === main.name ? [k] : [])));
  let simple = true;
  // Per member: list of [leaf, how] where how: 0 raw value, 1 ref-relative code, 2 own-bit+popcount
  const own: number[][] = Array.from({ length: n }, () => []);
  const ownHow: number[][] = Array.from({ length: n }, () => []);
  const globalRefs: number[] = []; // leaves outside per-member arrays whose value is a main ref
  const globalSets: number[] = [];
  leaves.forEach((l, i) => {
    const pos = mainPos[i]!;
    const vs = valueSort[i] === 0 ? valueKind[i]! : 0;
    if (pos.length >= 2) {
      simple = false;
      return;
    }
    if (pos.length === 1) {
      const c = l.indices[pos[0]!]!;
      own[c]!.push(i);
      ownHow[c]!.push(vs);
      if (vs !== 0) simple = false;
      return;
    }
    if (vs === 1) globalRefs.push(i);
    else if (vs === 2) globalSets.push(i);
  });
  const sigLen = own[0]!.length + globalRefs.length + globalSets.length;

  // Permutations of the other sorts, as leaf targets applied first.
  const otherPerms = others.length ? cartesian(others.map((s) => permutations(s.size))) : [[]];
  const identityMain = Array.from({ length: n }, (_, i) => i);
  const otherTargets = otherPerms.map((ps) => ({ perms: [identityMain, ...ps], target: leafTarget([identityMain, ...ps]) }));
  const mainTargetCache = new Map<number, Int32Array>();
  const identityOthers = others.map((s) => Array.from({ length: s.size }, (_, i) => i));
  const pm = new Array<number>(n).fill(0);
  const permsScratch = [pm, ...identityOthers];

  const raw = new Float64Array(L);
  const tmp = new Float64Array(L);
  const sig = new Float64Array(n * Math.max(sigLen, 1));
  const order = Array.from({ length: n }, (_, i) => i);
  const best = new Uint32Array(W);
  const cand = new Uint32Array(W);
  let haveBest = false;

  const mapValue = (i: number, v: number, perms: readonly (readonly number[])[]): number => {
    const k = valueKind[i]!;
    if (k === 0) return v;
    const p = perms[valueSort[i]!]!;
    if (k === 1) {
      const m = v + lo[i]!;
      return m < 0 ? v : p[m]! - lo[i]!;
    }
    let r = 0;
    for (let b = 0; b < p.length; b++) if ((v >>> b) & 1) r |= 1 << p[b]!;
    return r >>> 0;
  };

  const cmpMembers = (a: number, b: number): number => {
    for (let k = 0; k < sigLen; k++) {
      const d = sig[a * sigLen + k]! - sig[b * sigLen + k]!;
      if (d !== 0) return d;
    }
    return 0;
  };

  const emitCandidate = (vals: Float64Array, perms: readonly (readonly number[])[], target: Int32Array) => {
    cand.fill(0);
    cand[0] = 0x80000000;
    for (let i = 0; i < L; i++) {
      const t = target[i]!;
      const v = mapValue(i, vals[i]!, perms);
      cand[word[t]!] = (cand[word[t]!]! | (v << shift[t]!)) >>> 0;
    }
    if (!haveBest) {
      best.set(cand);
      haveBest = true;
      return;
    }
    for (let k = 0; k < W; k++) {
      if (cand[k]! !== best[k]!) {
        if (cand[k]! < best[k]!) best.set(cand);
        return;
      }
    }
  };

  const canon = (src: Uint32Array, so: number, dst: Uint32Array, dof: number): void => {
    for (let i = 0; i < L; i++) raw[i] = (src[so + word[i]!]! >>> shift[i]!) & mask[i]!;
    haveBest = false;
    for (const ot of otherTargets) {
      // Apply the other sorts' permutation.
      let vals = raw;
      if (others.length) {
        tmp.fill(0);
        for (let i = 0; i < L; i++) tmp[ot.target[i]!] = mapValue(i, raw[i]!, ot.perms);
        vals = tmp;
      }
      // Signatures of the main sort's members.
      for (let c = 0; c < n; c++) {
        let k = c * sigLen;
        const ol = own[c]!;
        for (let j = 0; j < ol.length; j++) sig[k++] = vals[ol[j]!]!;
        for (const g of globalRefs) sig[k++] = vals[g]! + lo[g]! === c ? 1 : 0;
        for (const g of globalSets) sig[k++] = (vals[g]! >>> c) & 1;
      }
      for (let i = 0; i < n; i++) order[i] = i;
      order.sort(cmpMembers);
      // order[r] = member placed at rank r; the permutation maps member -> rank.
      const tieGroups: number[][] = [];
      if (!simple) {
        let start = 0;
        for (let r = 1; r <= n; r++) {
          if (r === n || cmpMembers(order[start]!, order[r]!) !== 0) {
            if (r - start > 1) tieGroups.push(order.slice(start, r));
            start = r;
          }
        }
      }
      const tryPerm = (ord: readonly number[]) => {
        let key = 0;
        for (let r = 0; r < n; r++) {
          pm[ord[r]!] = r;
          key = key * n + ord[r]!;
        }
        let target = mainTargetCache.get(key);
        if (!target) {
          target = leafTarget([pm, ...identityOthers]);
          mainTargetCache.set(key, target);
        }
        emitCandidate(vals, permsScratch, target);
      };
      if (tieGroups.length === 0) tryPerm(order);
      else {
        // Enumerate permutations within each tie group.
        const ranks = tieGroups.map((g) => order.indexOf(g[0]!));
        const choices = cartesian(tieGroups.map((g) => permutations(g.length).map((p) => p.map((x) => g[x]!))));
        for (const ch of choices) {
          const ord = order.slice();
          ch.forEach((g, gi) => g.forEach((m, j) => (ord[ranks[gi]! + j] = m)));
          tryPerm(ord);
        }
      }
    }
    for (let k = 0; k < W; k++) dst[dof + k] = best[k]!;
  };

  const permute = (src: Uint32Array, so: number, dst: Uint32Array, dof: number, perm: readonly number[]): void => {
    const perms = [perm, ...identityOthers];
    const target = leafTarget(perms);
    for (let k = 0; k < W; k++) dst[dof + k] = k === 0 ? 0x80000000 : 0;
    for (let i = 0; i < L; i++) {
      const v = mapValue(i, (src[so + word[i]!]! >>> shift[i]!) & mask[i]!, perms);
      const t = target[i]!;
      dst[dof + word[t]!] = (dst[dof + word[t]!]! | (v << shift[t]!)) >>> 0;
    }
  };
  const groupSize = [main, ...others].reduce((a, s) => a * factorial(s.size), 1);
  return { sorts: [main, ...others].map((s) => s.name), groupSize, canon, permute, mainSize: n };
}

function factorial(n: number): number {
  let r = 1;
  for (let i = 2; i <= n; i++) r *= i;
  return r;
}

function cartesian<T>(lists: T[][]): T[][] {
  let out: T[][] = [[]];
  for (const l of lists) out = out.flatMap((p) => l.map((x) => [...p, x]));
  return out;
}

/** The model is not invariant under the permutations its types declare. */
export class AsymmetryFault extends Error {}

/** States checked one by one before the check samples only every 4096th. */
const SYMMETRY_SAMPLES = 2000;

/**
 * Fields whose leaves are plain ints (not refs) with a range that fits the
 * ids of a sort of n members (NONE allowed): the usual way a model breaks
 * symmetry, by keeping a CPU id where a permutation cannot map it.
 */
export function plainIdFields(layout: Layout<StateDecl>, n: number): string[] {
  return [...new Set(layout.leaves.filter((l) => l.type.kind === 'int' && !l.type.ref && l.lo >= -1 && l.lo + l.max <= n - 1 && l.lo + l.max >= 1).map((l) => l.field))];
}

/**
 * Symmetry is only sound when the model is invariant under the permutations.
 * The returned check takes a batch of states cur[b0..b1) whose first has id
 * firstId. It samples them: every state of the first SYMMETRY_SAMPLES it sees
 * (small models are so checked exhaustively), then one id in 4096. For each
 * sampled state s it verifies that a transposition of s has the same
 * canonical successors and invariant verdicts, and throws AsymmetryFault
 * otherwise. Successive checks cycle through the transpositions of the main sort.
 */
export function symmetryChecker(
  layout: Layout<StateDecl>,
  sym: Canonicalizer,
  expand: Expand,
  holds: readonly ((s: View<StateDecl>) => boolean)[],
  instances: number,
): (cur: Uint32Array, b0: number, b1: number, firstId: number) => void {
  const W = layout.words;
  const out = new Uint32Array(Math.max(instances, 1) * W);
  const ks = new Uint32Array(Math.max(instances, 1));
  const fault = new Int32Array(2);
  const s = new Uint32Array(W);
  const v = layout.makeView();
  const w = layout.makeView();
  let checked = 0;
  const succKeys = (words: Uint32Array): string => {
    layout.unpack2(words, 0, v, w);
    const m = expand(v, w, words, 0, out, ks, fault, 0);
    if (m < 0) return '';
    const keys: string[] = [];
    for (let i = 0; i < m; i++) {
      sym.canon(out, i * W, out, i * W);
      keys.push(Array.from(out.subarray(i * W, i * W + W)).join(','));
    }
    return [...new Set(keys)].sort().join(';') + '|' + holds.map((h) => h(v)).join(',');
  };
  const checkOne = (cur: Uint32Array, j: number): void => {
    const n = sym.mainSize;
    const a = (checked * 7) % n;
    const b = (a + 1 + (checked % (n - 1))) % n;
    checked++;
    const perm = Array.from({ length: n }, (_, i) => (i === a ? b : i === b ? a : i));
    for (let k = 0; k < W; k++) s[k] = cur[j * W + k]!;
    const k1 = succKeys(s);
    sym.permute(cur, j * W, s, 0, perm);
    const k2 = succKeys(s);
    if (k1 !== k2) {
      const field = culprit(cur, j * W, perm);
      throw new AsymmetryFault(
        field
          ? `the model is not symmetric in ${sym.sorts[0]}: field ${field} holds a ${sym.sorts[0]} id in a plain int, which a permutation cannot map ` +
              `(declare it ref(${sym.sorts[0]}, { none: true }) or ref(${sym.sorts[0]}))`
          : `the model is not symmetric in ${sym.sorts[0]} (swapping members ${a} and ${b} changes the successors or the invariants)`,
      );
    }
  };
  /**
   * The plain int field that, mapped through the permutation as if it were a
   * ref, makes the model commute with the permutation on the state at
   * cur[co..]: the field that broke symmetry. (Canonical forms cannot be
   * compared here: they leave that field unmapped too.)
   */
  const culprit = (cur: Uint32Array, co: number, perm: readonly number[]): string | undefined => {
    const n = perm.length;
    const fields = plainIdFields(layout, n);
    const x = cur.slice(co, co + W);
    /** π, with field f's values mapped too, of the state at src[so..]. */
    const mapped = (src: Uint32Array, so: number, f: string): Uint32Array | undefined => {
      const t = new Uint32Array(W);
      sym.permute(src, so, t, 0, perm);
      layout.unpack(t, 0, v);
      for (const l of layout.leaves) {
        if (l.field !== f) continue;
        let box: unknown = v;
        let key: string | number = l.field;
        for (const i of l.indices) {
          box = (box as Record<string | number, unknown>)[key];
          key = i;
        }
        const obj = box as Record<string | number, number>;
        const val = obj[key]!;
        if (val >= 0 && val < n) obj[key] = perm[val]!;
      }
      return layout.pack(v, t, 0) >= 0 ? undefined : t;
    };
    /** The successors (as words) and the invariants' values of a state. */
    const raw = (words: Uint32Array): { succ: Uint32Array[]; inv: string } | undefined => {
      layout.unpack2(words, 0, v, w);
      const m = expand(v, w, words, 0, out, ks, fault, 0);
      if (m < 0) return undefined;
      return { succ: Array.from({ length: m }, (_, i) => out.slice(i * W, i * W + W)), inv: holds.map((h) => h(v)).join(',') };
    };
    const keyOf = (ws: Uint32Array[]) => [...new Set(ws.map((q) => q.join(',')))].sort().join(';');
    const here = raw(x);
    if (!here) return undefined;
    for (const f of fields) {
      const y = mapped(x, 0, f);
      const there = y && raw(y);
      if (!there || there.inv !== here.inv) continue;
      const image = here.succ.map((q) => mapped(q, 0, f));
      if (image.some((q) => q === undefined)) continue;
      if (keyOf(image as Uint32Array[]) === keyOf(there.succ)) return f;
    }
    return undefined;
  };
  return (cur, b0, b1, firstId) => {
    for (let j = b0; j < b1; j++) if (checked < SYMMETRY_SAMPLES || ((firstId + j - b0) & 4095) === 0) checkOne(cur, j);
  };
}
