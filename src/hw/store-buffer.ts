/**
 * Optional x86-TSO store buffers (Intel SDM Vol. 3A §9.2.2 "Memory Ordering
 * in P6 and More Recent Processor Families", §9.3 "Serializing Instructions").
 *
 * Each CPU has a bounded FIFO of (location, value) stores that are not yet
 * globally visible. The model's state fields are MEMORY; a buffered store
 * reaches them only when the CPU's `drain` step (nondeterministic, any time)
 * moves the oldest entry out. The rules:
 * - a plain store (MOV, this_cpu_write, WRITE_ONCE, set_pte, smp_store_release)
 *   goes into the buffer (`storeTo`); a store into a full buffer first drains
 *   the oldest entry (the depth is the model's bound, not a CPU property);
 * - a load (`loadFrom`) takes the NEWEST own buffered store to that location
 *   (store forwarding), else memory. Other CPUs' buffered stores are invisible;
 *   so stores are never reordered with stores, loads may pass earlier stores
 *   to other locations (the one x86 reordering, §9.2.3.4);
 * - MFENCE (smp_mb), LOCK-prefixed read-modify-writes (xchg, atomic64_inc_return,
 *   lock bts/btr, cmpxchg) and serializing instructions (MOV CR3, INVLPG,
 *   INVPCID, §9.3) drain the whole buffer first (`fence`, `lockedStore`); a
 *   locked RMW then writes memory directly;
 * - the page walker's PTE/PMD reads are loads of the walking CPU (they forward
 *   from its own buffer); its A/D updates use locked cycles (§9.1.2.1
 *   "Automatic Locking") and are treated as locked RMWs of that CPU.
 *
 * Off by default: a model that does not add `storeBufferFields` has no buffer,
 * every store goes straight to memory and every function here reduces to a
 * plain read or write, so state counts are those of the sequentially
 * consistent model.
 *
 * Locations are (kind, cpu, page, idx): `kind` names a handler registered with
 * `defineSbKind` (the hardware registers 'pte' and 'pmd', the kernel its
 * per-CPU variables) or, for a model's own locations, `modelSbKind`; `cpu` is a CPU-valued coordinate (a `ref`, so that CPU
 * symmetry reduction permutes it), `page` a page, `idx` anything else (a
 * page-table page, a root).
 */
import { array, enumOf, int, NONE, ref } from '../engine/types.js';
import type { StateDecl, View } from '../engine/types.js';
import type { ActionDef } from '../engine/model.js';
import type { HwShape } from './shape.js';

export interface SbLoc {
  readonly kind: string;
  readonly cpu: number;
  readonly page: number;
  readonly idx: number;
}

/**
 * How a kind of location is read from and written to memory (the state
 * fields). `c` is the CPU whose buffer holds the store (or that loads): a
 * location may be relative to it (a per-CPU variable of c; the CSD of
 * sender l.cpu to target c).
 */
export interface SbKindDef {
  read(s: any, l: SbLoc, c: number): number;
  write(s: any, l: SbLoc, v: number, c: number): void;
  /** Trace phrase for "l = v". */
  show(l: SbLoc, v: number, c: number): string;
}

const KINDS = new Map<string, SbKindDef>();

/**
 * Register a kind of buffered location (module load time; the same handler
 * for every model in the process). A name is defined once: a second
 * definition would change what the blocks' stores to it do in every model
 * loaded beside it, so it is refused (pick another name).
 */
export function defineSbKind(kind: string, def: SbKindDef): void {
  const had = KINDS.get(kind);
  if (had && had !== def) throw new Error(`store buffer: location kind ${kind} is already defined${BLOCK_KINDS.has(kind) ? ' by the building blocks' : ''}; a model's own kinds are registered with modelSbKind()`);
  KINDS.set(kind, def);
}
/**
 * A model's own kind of buffered location, kept apart from every other
 * model's: it is registered under `name` if that is free, else under
 * `name·2`, `name·3`, … So two models that each define a kind `flag` with
 * their own handler can be checked in one process (tlbcheck ci) and each
 * keeps its handler. Returns the kind to use in loc() and in
 * storeBufferFields({ kinds }). The same handler again returns the same
 * kind (a model module imported twice, or a model that registers in build()).
 */
export function modelSbKind(name: string, def: SbKindDef): string {
  for (let n = 1; ; n++) {
    const kind = n === 1 ? name : `${name}·${n}`;
    const had = KINDS.get(kind);
    if (had === def) return kind;
    if (!had && !BLOCK_KINDS.has(kind)) {
      KINDS.set(kind, def);
      return kind;
    }
  }
}
/** The kinds src/hw and src/kernel define (for the error above). */
const BLOCK_KINDS = new Set(['pte', 'pmd', 'loaded_mm', 'is_lazy', 'csd']);
function kindDef(kind: string): SbKindDef {
  const d = KINDS.get(kind);
  if (!d) throw new Error(`store buffer: no location kind ${kind} registered`);
  return d;
}

export const loc = (kind: string, o: { cpu?: number; page?: number; idx?: number } = {}): SbLoc => ({
  kind,
  cpu: o.cpu ?? NONE,
  page: o.page ?? NONE,
  idx: o.idx ?? 0,
});

export interface StoreBufferParams {
  /** Entries per CPU (1-2 keep the state space small). */
  depth: number;
  /** Location kinds the model uses (every kind stored must be listed). */
  kinds: readonly string[];
  /** Largest `idx` coordinate. */
  idxMax: number;
  /** Value range of the buffered stores. */
  valLo: number;
  valHi: number;
}

const EMPTY = '-';

/** The per-CPU FIFOs, slot 0 the oldest; unused slots are all-default so equal buffers pack equally. */
export function storeBufferFields(sh: Pick<HwShape, 'CPU' | 'PAGE'>, p: StoreBufferParams) {
  const { CPU, PAGE } = sh;
  const slot = <T extends Parameters<typeof array>[1]>(t: T) => array(CPU, array(p.depth, t));
  return {
    sbKind: slot(enumOf([EMPTY, ...p.kinds])),
    sbCpu: slot(ref(CPU, { none: true })),
    sbPage: slot(ref(PAGE, { none: true })),
    sbIdx: slot(int(0, p.idxMax)),
    sbVal: slot(int(Math.min(p.valLo, 0), Math.max(p.valHi, 0))),
  };
}
export type StoreBufferView = View<ReturnType<typeof storeBufferFields>>;

type Maybe = Partial<StoreBufferView>;
const sbOf = (s: unknown): StoreBufferView | null => ((s as Maybe).sbKind ? (s as StoreBufferView) : null);

/** The model has store buffers (TSO on). */
export const tsoOn = (s: unknown): boolean => sbOf(s) !== null;

export function sbLength(s: unknown, c: number): number {
  const b = sbOf(s);
  if (!b) return 0;
  const k = b.sbKind[c]!;
  let n = 0;
  while (n < k.length && k[n] !== EMPTY) n++;
  return n;
}

const same = (b: StoreBufferView, c: number, i: number, l: SbLoc): boolean =>
  b.sbKind[c]![i] === l.kind && b.sbCpu[c]![i] === l.cpu && b.sbPage[c]![i] === l.page && b.sbIdx[c]![i] === l.idx;

export function sbEntry(s: unknown, c: number, i: number): { l: SbLoc; v: number } {
  const b = sbOf(s)!;
  return { l: { kind: b.sbKind[c]![i]!, cpu: b.sbCpu[c]![i]!, page: b.sbPage[c]![i]!, idx: b.sbIdx[c]![i]! }, v: b.sbVal[c]![i]! };
}

/** CPU c's newest buffered store to l, or undefined. */
export function forwarded(s: unknown, c: number, l: SbLoc): number | undefined {
  const b = sbOf(s);
  if (!b) return undefined;
  for (let i = b.sbKind[c]!.length - 1; i >= 0; i--) if (b.sbKind[c]![i] !== EMPTY && same(b, c, i, l)) return b.sbVal[c]![i];
  return undefined;
}

/** Any CPU has a store to l in flight. */
export function inFlight(s: unknown, l: SbLoc): boolean {
  const b = sbOf(s);
  if (!b) return false;
  for (let c = 0; c < b.sbKind.length; c++) if (forwarded(s, c, l) !== undefined) return true;
  return false;
}

/** A load by CPU c: own newest buffered store, else memory. */
export function loadFrom(s: unknown, c: number, l: SbLoc): number {
  return forwarded(s, c, l) ?? kindDef(l.kind).read(s, l, c);
}

/** Move CPU c's oldest buffered store to memory. */
export function drainOne(s: unknown, c: number): void {
  const b = sbOf(s);
  if (!b || b.sbKind[c]![0] === EMPTY) return;
  const { l, v } = sbEntry(s, c, 0);
  kindDef(l.kind).write(s, l, v, c);
  const d = b.sbKind[c]!.length;
  for (let i = 0; i < d - 1; i++) {
    b.sbKind[c]![i] = b.sbKind[c]![i + 1]!;
    b.sbCpu[c]![i] = b.sbCpu[c]![i + 1]!;
    b.sbPage[c]![i] = b.sbPage[c]![i + 1]!;
    b.sbIdx[c]![i] = b.sbIdx[c]![i + 1]!;
    b.sbVal[c]![i] = b.sbVal[c]![i + 1]!;
  }
  b.sbKind[c]![d - 1] = EMPTY;
  b.sbCpu[c]![d - 1] = NONE;
  b.sbPage[c]![d - 1] = NONE;
  b.sbIdx[c]![d - 1] = 0;
  b.sbVal[c]![d - 1] = 0;
}

/** MFENCE / a locked instruction / a serializing instruction: drain all of CPU c's stores. */
export function fence(s: unknown, c: number): void {
  while (sbLength(s, c) > 0) drainOne(s, c);
}

/** A plain store by CPU c (straight to memory without store buffers). */
export function storeTo(s: unknown, c: number, l: SbLoc, v: number): void {
  const b = sbOf(s);
  if (!b) return kindDef(l.kind).write(s, l, v, c);
  let n = sbLength(s, c);
  if (n === b.sbKind[c]!.length) {
    drainOne(s, c);
    n--;
  }
  b.sbKind[c]![n] = l.kind;
  b.sbCpu[c]![n] = l.cpu;
  b.sbPage[c]![n] = l.page;
  b.sbIdx[c]![n] = l.idx;
  b.sbVal[c]![n] = v;
}

/** A LOCK-prefixed store/RMW by CPU c: drains first, then writes memory. */
export function lockedStore(s: unknown, c: number, l: SbLoc, v: number): void {
  fence(s, c);
  kindDef(l.kind).write(s, l, v, c);
}

/**
 * XCHG (implicitly LOCKed, SDM Vol. 3A §9.1.2.2): drain c's buffer, then
 * read and write the location as one atomic step; returns the old value.
 * A locked instruction is a full barrier on x86-TSO (SDM §9.2.2): no later
 * load of c passes it.
 */
export function lockedXchg(s: unknown, c: number, l: SbLoc, v: number): number {
  fence(s, c);
  const d = kindDef(l.kind);
  const old = d.read(s, l, c);
  d.write(s, l, v, c);
  return old;
}

/**
 * LOCK CMPXCHG: drain c's buffer; if the location holds `expected`, write
 * `v`, atomically. Returns the value found (= expected when it swapped).
 * On failure the hardware writes the old value back (the destination always
 * gets a write cycle, SDM Vol. 2A CMPXCHG), which changes nothing here.
 */
export function lockedCmpxchg(s: unknown, c: number, l: SbLoc, expected: number, v: number): number {
  fence(s, c);
  const d = kindDef(l.kind);
  const old = d.read(s, l, c);
  if (old === expected) d.write(s, l, v, c);
  return old;
}

export function describeSbEntry(s: unknown, c: number, i: number): string {
  const { l, v } = sbEntry(s, c, i);
  return kindDef(l.kind).show(l, v, c);
}

/** "[a=1, b=2]" for traces. */
export function describeStoreBuffer(s: unknown, c: number): string {
  const n = sbLength(s, c);
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push(describeSbEntry(s, c, i));
  return `[${out.join(', ')}]`;
}

/** The store buffer drains its oldest entry to memory (any time, nondeterministically). */
export function drainAction<D extends StateDecl>(sh: Pick<HwShape, 'CPU'>): ActionDef<D> {
  return {
    over: [sh.CPU],
    guard: (s, c) => sbLength(s, c!) > 0,
    effect: (s, c) => drainOne(s, c!),
    describe: (s, c) => `store buffer drains: ${describeSbEntry(s, c!, 0)} now visible`,
  };
}
