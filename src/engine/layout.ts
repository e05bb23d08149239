/**
 * Compiles a state declaration into a fixed bit-packed layout and generates
 * (with `new Function`) the straight-line code the hot loop needs:
 *   pack(view, out)  -> -1, or the index of the leaf whose value is out of range
 *   unpack(words, off, view)
 *   copy(src, dst)
 *   hash(words, off) -> 32-bit hash (two seeds give a 64-bit fingerprint)
 * No per-state objects are created: the explorer reuses a few view objects.
 *
 * Bit 31 of word 0 is reserved and always set in a packed state, so a table
 * slot whose word 0 is zero is empty (see store.ts).
 */
import type { FieldType, Sort, StateDecl, View } from './types.js';

export interface Leaf {
  /** Human-readable path, e.g. `tlb[1][0]`. */
  readonly path: string;
  /** JS expression relative to a view named `v`, e.g. `v["tlb"][1][0]`. */
  readonly expr: string;
  /** Field name and array indices (for symmetry permutations and diffs). */
  readonly field: string;
  readonly indices: readonly number[];
  /** The sorts indexing this leaf's arrays, outermost first (undefined = plain index). */
  readonly indexSorts: readonly (Sort | undefined)[];
  readonly type: Exclude<FieldType, { kind: 'array' }>;
  readonly bits: number;
  /** Added to the stored value to get the model value (ints only). */
  readonly lo: number;
  /** Largest stored (biased) value. */
  readonly max: number;
  word: number;
  shift: number;
}

export interface Layout<D extends StateDecl = StateDecl> {
  readonly decl: D;
  readonly leaves: readonly Leaf[];
  /** 32-bit words per packed state. */
  readonly words: number;
  /** Bits actually used (without the occupancy bit). */
  readonly bitsUsed: number;
  readonly pack: (v: View<D>, out: Uint32Array, off: number) => number;
  readonly unpack: (w: Uint32Array, off: number, v: View<D>) => void;
  /** unpack into two views at once. */
  readonly unpack2: (w: Uint32Array, off: number, v: View<D>, u: View<D>) => void;
  readonly copy: (src: View<D>, dst: View<D>) => void;
  readonly hash: (w: Uint32Array, off: number, seed: number) => number;
  /** Every array of a view, in a fixed order (to detect effects that replace arrays). */
  readonly containers: (v: View<D>) => unknown[];
  /** A fresh view holding every field's declared initial value. */
  readonly makeView: () => View<D>;
  /** Deep copy into plain JSON-able data (for traces). */
  readonly toPlain: (v: View<D>) => Record<string, unknown>;
  /** Overwrite a view from plain data (validated by pack afterwards). */
  readonly fromPlain: (p: Record<string, unknown>, v: View<D>) => void;
}

const OCCUPIED = 0x80000000;

/** Bits to store `values` values: 0 for a leaf that can hold one value only (e.g. a PCID when there is one), which then costs nothing. */
function bitsFor(values: number): number {
  let b = 0;
  while (2 ** b < values) b++;
  return b;
}

function flatten(decl: StateDecl): Leaf[] {
  const out: Leaf[] = [];
  const walk = (t: FieldType, field: string, path: string, expr: string, idx: number[], sorts: (Sort | undefined)[]) => {
    if (t.kind === 'array') {
      for (let i = 0; i < t.length; i++) {
        walk(t.elem, field, `${path}[${i}]`, `${expr}[${i}]`, [...idx, i], [...sorts, t.index]);
      }
      return;
    }
    let lo = 0;
    let max: number;
    switch (t.kind) {
      case 'int':
        lo = t.lo;
        max = t.hi - t.lo;
        break;
      case 'bool':
        max = 1;
        break;
      case 'enum':
        max = t.values.length - 1;
        break;
      case 'set':
        max = 2 ** t.sort.size - 1;
        break;
    }
    out.push({ path, expr, field, indices: idx, indexSorts: sorts, type: t, bits: bitsFor(max + 1), lo, max, word: -1, shift: -1 });
  };
  for (const [name, t] of Object.entries(decl)) {
    if (!/^[A-Za-z_$][\w$]*$/.test(name)) throw new Error(`state field name ${JSON.stringify(name)} is not an identifier`);
    walk(t, name, name, `v[${JSON.stringify(name)}]`, [], []);
  }
  return out;
}

/** First-fit decreasing bin packing of leaves into 32-bit words; word 0 has 31 bits. */
function assignBits(leaves: Leaf[]): number {
  const free: number[] = [];
  const order = leaves.map((l, i) => i).sort((a, b) => leaves[b]!.bits - leaves[a]!.bits || a - b);
  for (const i of order) {
    const leaf = leaves[i]!;
    if (leaf.bits === 0) {
      // Constant: reads give (word 0 >>> 0) & 0 = 0, i.e. its one value.
      leaf.word = 0;
      leaf.shift = 0;
      if (free.length === 0) free.push(31);
      continue;
    }
    let w = free.findIndex((f) => f >= leaf.bits);
    if (w < 0) {
      w = free.length;
      free.push(w === 0 ? 31 : 32);
    }
    const cap = w === 0 ? 31 : 32;
    leaf.word = w;
    leaf.shift = cap - free[w]!;
    free[w]! -= leaf.bits;
  }
  return Math.max(free.length, 1);
}

/**
 * Hoist array containers into locals (`const a3 = v["tlb"][1];`) so the
 * generated code loads each nested array once instead of once per leaf;
 * TurboFan cannot do this itself because element stores might alias.
 * Returns the prelude and, per leaf, the expression to use instead of l.expr.
 */
function hoist(leaves: readonly Leaf[], root: string, prefix: string): { prelude: string; exprs: string[] } {
  const locals = new Map<string, string>();
  const prelude: string[] = [];
  const containerOf = (l: Leaf): string => {
    let expr = `${root}[${JSON.stringify(l.field)}]`;
    if (l.indices.length === 0) return expr;
    let local = locals.get(expr);
    if (!local) {
      local = `${prefix}${locals.size}`;
      locals.set(expr, local);
      prelude.push(`const ${local} = ${expr};`);
    }
    for (const i of l.indices.slice(0, -1)) {
      expr = `${expr}[${i}]`;
      let next = locals.get(expr);
      if (!next) {
        next = `${prefix}${locals.size}`;
        locals.set(expr, next);
        prelude.push(`const ${next} = ${local}[${i}];`);
      }
      local = next;
    }
    return local;
  };
  const exprs = leaves.map((l) => (l.indices.length === 0 ? `${root}[${JSON.stringify(l.field)}]` : `${containerOf(l)}[${l.indices[l.indices.length - 1]}]`));
  return { prelude: prelude.join('\n'), exprs };
}

/**
 * Code converting the model value in `t` of leaf `l` into its stored bits in
 * `x`; runs the `fail` code when the value is outside the declared range or
 * of the wrong type.
 */
function genConvert(l: Leaf, fail: string): string {
  switch (l.type.kind) {
    case 'bool':
      return `if (t === true) x = 1; else if (t === false) x = 0; else { ${fail} }`;
    case 'enum': {
      const chain = l.type.values.map((val, k) => `t === ${JSON.stringify(val)} ? ${k} : `).join('');
      return `x = ${chain}-1; if (x < 0) { ${fail} }`;
    }
    default:
      return `x = t${l.lo ? ` - (${l.lo})` : ''}; if ((x >>> 0) !== x || x > ${l.max}) { ${fail} }`;
  }
}

function genPack(leaves: readonly Leaf[], words: number): string {
  const h = hoist(leaves, 'v', 'a');
  const lines: string[] = [h.prelude, 'let t, x;'];
  for (let w = 0; w < words; w++) lines.push(`let w${w} = ${w === 0 ? OCCUPIED : 0};`);
  leaves.forEach((l, i) => lines.push(`t = ${h.exprs[i]}; ${genConvert(l, `return ${i};`)} w${l.word} |= x << ${l.shift};`));
  for (let w = 0; w < words; w++) lines.push(`out[off + ${w}] = w${w};`);
  lines.push('return -1;');
  return lines.join('\n');
}

/** Unpack into two views at once (the explorer's base and work views). */
function genUnpack2(leaves: readonly Leaf[]): string {
  const h = hoist(leaves, 'v', 'a');
  const g = hoist(leaves, 'u', 'c');
  const lines: string[] = [h.prelude, g.prelude, 'let x;'];
  leaves.forEach((l, i) => {
    const raw = `((w[off + ${l.word}] >>> ${l.shift}) & ${2 ** l.bits - 1})`;
    switch (l.type.kind) {
      case 'bool':
        lines.push(`x = ${raw} === 1;`);
        break;
      case 'enum':
        lines.push(`x = E${i}[${raw}];`);
        break;
      default:
        lines.push(`x = ${raw}${l.lo ? ` + (${l.lo})` : ''};`);
    }
    lines.push(`${h.exprs[i]} = x; ${g.exprs[i]} = x;`);
  });
  return lines.join('\n');
}

function genUnpack(leaves: readonly Leaf[]): string {
  const h = hoist(leaves, 'v', 'a');
  const lines: string[] = [h.prelude];
  leaves.forEach((l, i) => {
    const e = h.exprs[i]!;
    const raw = `((w[off + ${l.word}] >>> ${l.shift}) & ${2 ** l.bits - 1})`;
    switch (l.type.kind) {
      case 'bool':
        lines.push(`${e} = ${raw} === 1;`);
        break;
      case 'enum':
        lines.push(`${e} = E${i}[${raw}];`);
        break;
      default:
        lines.push(`${e} = ${raw}${l.lo ? ` + (${l.lo})` : ''};`);
    }
  });
  return lines.join('\n');
}

function genCopy(leaves: readonly Leaf[]): string {
  const src = hoist(leaves, 's', 's');
  const dst = hoist(leaves, 'd', 'd');
  return [src.prelude, dst.prelude, ...leaves.map((_, i) => `${dst.exprs[i]} = ${src.exprs[i]};`)].join('\n');
}

/** MurmurHash3 (x86, 32-bit) over the packed words, unrolled. */
function genHash(words: number): string {
  const lines = ['let h = seed | 0, k;'];
  for (let w = 0; w < words; w++) {
    lines.push(
      `k = Math.imul(w[off + ${w}] | 0, 0xcc9e2d51); k = (k << 15) | (k >>> 17); k = Math.imul(k, 0x1b873593);`,
      `h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) | 0;`,
    );
  }
  lines.push(
    `h ^= ${words * 4}; h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b); h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35); h ^= h >>> 16;`,
    'return h >>> 0;',
  );
  return lines.join('\n');
}

function initValue(t: FieldType): unknown {
  if (t.kind === 'array') return Array.from({ length: t.length }, () => initValue(t.elem));
  return t.init;
}

export function compileLayout<D extends StateDecl>(decl: D): Layout<D> {
  const leaves = flatten(decl);
  const words = assignBits(leaves);
  const bitsUsed = leaves.reduce((a, l) => a + l.bits, 0);
  const enumTables = leaves.map((l) => (l.type.kind === 'enum' ? l.type.values : null));
  const enumParams = enumTables.map((_, i) => `E${i}`);

  const pack = new Function('v', 'out', 'off', genPack(leaves, words)) as Layout<D>['pack'];
  const unpack = new Function(...enumParams, `return function unpack(w, off, v) {\n${genUnpack(leaves)}\n}`)(
    ...enumTables,
  ) as Layout<D>['unpack'];
  const unpack2 = new Function(...enumParams, `return function unpack2(w, off, v, u) {\n${genUnpack2(leaves)}\n}`)(
    ...enumTables,
  ) as Layout<D>['unpack2'];
  const copy = new Function('s', 'd', genCopy(leaves)) as Layout<D>['copy'];
  const hash = new Function('w', 'off', 'seed', genHash(words)) as Layout<D>['hash'];

  // Views are plain objects of plain arrays (freezing or sealing them would
  // cost the explorer a third of its speed); containers() lets the explorer
  // check that an effect changed values only and did not replace an array.
  const makeView = (): View<D> => {
    const v: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(decl)) v[name] = initValue(t);
    return v as View<D>;
  };
  const containers = (v: View<D>): unknown[] => {
    const out: unknown[] = [];
    const walk = (x: unknown) => {
      if (!Array.isArray(x)) return;
      out.push(x);
      for (const y of x) walk(y);
    };
    for (const name of Object.keys(decl)) walk((v as Record<string, unknown>)[name]);
    return out;
  };
  const toPlain = (v: View<D>): Record<string, unknown> => structuredClone(v) as Record<string, unknown>;
  const fromPlain = (p: Record<string, unknown>, v: View<D>): void => {
    const assign = (src: unknown, dst: unknown[], t: FieldType) => {
      if (t.kind !== 'array' || !Array.isArray(src)) return;
      for (let i = 0; i < t.length; i++) {
        if (t.elem.kind === 'array') assign(src[i], dst[i] as unknown[], t.elem);
        else dst[i] = src[i];
      }
    };
    for (const [name, t] of Object.entries(decl)) {
      if (t.kind === 'array') assign(p[name], (v as Record<string, unknown>)[name] as unknown[], t);
      else (v as Record<string, unknown>)[name] = p[name];
    }
  };
  return { decl, leaves, words, bitsUsed, pack, unpack, unpack2, copy, hash, makeView, containers, toPlain, fromPlain };
}

/** Read a leaf's value from a view (slow path: traces, diffs, symmetry tests). */
export function leafGet(v: unknown, l: Leaf): unknown {
  let x = (v as Record<string, unknown>)[l.field];
  for (const i of l.indices) x = (x as unknown[])[i];
  return x;
}
