/**
 * arch/x86/mm/tlb.c flush machinery (recent tree, review §2.1-2.2):
 * struct flush_tlb_info, flush_tlb_func() with its generation logic,
 * should_flush_tlb() and native_flush_tlb_multi()'s choice of targets.
 * PTI hooks come from kernel/pti.ts; global ASIDs/INVLPGB are not modelled.
 */
import { array, bits, bool, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { cr3Write, invlpg } from '../hw/invalidate.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';
import { initMm, type KernelShape } from './shape.js';
import { switchMmIrqsOff, type KView } from './switch.js';
import { LOADED_MM_SWITCHING, ownIsLazy, ownLoadedMm } from './tlbstate.js';
import { incMmTlbGen, mmCpumaskClear } from './mm.js';
import { pteSeen } from '../hw/pagetable.js';

export const TLB_FLUSH_ALL = -1;

/** The per-CPU static flush_tlb_info of each initiating CPU. */
export function flushInfoFields(k: KernelShape) {
  const { CPU, PAGE, mms, maxGen } = k;
  return {
    fiMm: array(CPU, int(0, mms - 1)),
    /** start (one page) or TLB_FLUSH_ALL. */
    fiVa: array(CPU, int(TLB_FLUSH_ALL, PAGE.size - 1)),
    fiNewGen: array(CPU, int(0, maxGen)),
    fiFreedTables: array(CPU, bool()),
  };
}
export type FlushInfoView = View<ReturnType<typeof flushInfoFields>>;

export interface FlushInfo {
  mm: number;
  va: number;
  newGen: number;
  freedTables: boolean;
}

export function readFlushInfo(s: FlushInfoView, cpu: number): FlushInfo {
  return { mm: s.fiMm[cpu]!, va: s.fiVa[cpu]!, newGen: s.fiNewGen[cpu]!, freedTables: s.fiFreedTables[cpu]! };
}
export function writeFlushInfo(s: FlushInfoView, cpu: number, f: FlushInfo): void {
  s.fiMm[cpu] = f.mm;
  s.fiVa[cpu] = f.va;
  s.fiNewGen[cpu] = f.newGen;
  s.fiFreedTables[cpu] = f.freedTables;
}

const vaName = (va: number) => (va === TLB_FLUSH_ALL ? 'all' : `va${va}`);
export const describeFlushInfo = (f: FlushInfo) => `mm${f.mm} ${vaName(f.va)} new_tlb_gen=${f.newGen}${f.freedTables ? ' freed_tables' : ''}`;

/**
 * flush_tlb_func(info) on CPU c (IRQs off). Returns a trace phrase.
 * Order (review item 19): other mm loaded → clear own mm_cpumask bit;
 * init_mm → nothing; lazy → switch to init_mm; up to date → nothing;
 * partial flush only if new_tlb_gen == local+1 == mm gen, else full flush;
 * then ctxs[asid].tlb_gen = mm gen.
 */
/**
 * Extra work flush_tlb_func() does under PTI (kernel/pti.ts supplies it):
 * flush_tlb_one_user() also drops the user-PCID copy (INVPCID type 0, or
 * marks it for the next exit to user); flush_tlb_local() marks the user PCID.
 */
export interface FlushHooks {
  flushOneUser?: (s: KView, c: number, va: number, asid: number) => void;
  flushLocal?: (s: KView, c: number, asid: number) => void;
}

export function flushTlbFunc(s: KView, c: number, f: FlushInfo, k: Pick<KernelShape, 'mms'>, hooks: FlushHooks = {}): string {
  const lm = ownLoadedMm(s, c);
  if (f.mm !== lm) {
    mmCpumaskClear(s, f.mm, c);
    return `flush_tlb_func: mm${f.mm} not loaded → clear own mm_cpumask bit`;
  }
  if (lm === initMm(k)) return 'flush_tlb_func: init_mm loaded: nothing';
  if (ownIsLazy(s, c)) return `flush_tlb_func: lazy → ${switchMmIrqsOff(s, c, initMm(k), k)}`;
  const asid = s.loadedAsid[c]!;
  const local = s.ctxTlbGen[c]![asid]!;
  if (f.newGen !== 0 && f.newGen <= local) return `flush_tlb_func: local tlb_gen ${local} ≥ ${f.newGen}: already flushed`;
  const mmGen = s.tlbGen[lm]!;
  if (local === mmGen) return `flush_tlb_func: local tlb_gen ${local} = mm tlb_gen: nothing`;
  let what: string;
  if (f.va !== TLB_FLUSH_ALL && f.newGen === local + 1 && f.newGen === mmGen) {
    invlpg(s, c, f.va); // flush_tlb_one_user()
    hooks.flushOneUser?.(s, c, f.va, asid);
    what = `INVLPG va${f.va}`;
  } else {
    hooks.flushLocal?.(s, c, asid); // invalidate_user_asid() under PTI
    cr3Write(s, c, s.cr3Root[c]!, s.cr3Pcid[c]!, false); // flush_tlb_local(): reload CR3, flushing
    what = `full flush (CR3 reload, pcid${s.cr3Pcid[c]})`;
  }
  s.ctxTlbGen[c]![asid] = mmGen;
  return `flush_tlb_func: ${what}, tlb_gen ${local}→${mmGen}`;
}

/**
 * The choice of targets in native_flush_tlb_multi()/should_flush_tlb(); each
 * option defaults to mainline. The historic variants:
 *   switchingIpi=false  should_flush_tlb() before fea4e317f9e7 (2025, "x86/mm:
 *                       Eliminate window where TLB flushes may be
 *                       inadvertently skipped"): a CPU in the
 *                       LOADED_MM_SWITCHING window is skipped as running
 *                       another mm, although it may already have read the
 *                       old tlb_gen and be about to load next's CR3 without
 *                       a flush.
 *   trimCpumask=true    this flush is the one that trims mm_cpumask
 *                       (flush_tlb_info.trim_cpumask; "x86/mm/tlb: Only
 *                       trim the mm_cpumask once a second", 2024): CPUs of
 *                       the mask running another mm get the IPI too and
 *                       clear their bit in flush_tlb_func().
 *   ipiLazyOnFreedTables=false  lazy CPUs are skipped even with freed_tables
 *                       (the lazy model; Rik van Riel's 2018 lazy-TLB
 *                       series IPIs lazy CPUs only when tables are freed).
 */
export interface FlushTargetOptions {
  ipiLazyOnFreedTables: boolean;
  switchingIpi?: boolean;
  trimCpumask?: boolean;
}

/**
 * should_flush_tlb(cpu, info), evaluated by the sender on the target's state
 * (remote reads: under TSO the target's buffered stores are not seen).
 * Mainline order: lazy → skip; LOADED_MM_SWITCHING → IPI; the mm loaded →
 * IPI; trim_cpumask → IPI; else skip.
 */
export function shouldFlushTlb(s: KView, cpu: number, f: FlushInfo, o: Partial<FlushTargetOptions> = {}): boolean {
  if (s.isLazy[cpu]) return false;
  const lm = s.loadedMm[cpu]!;
  if (lm === LOADED_MM_SWITCHING && (o.switchingIpi ?? true)) return true;
  if (lm === f.mm) return true;
  return o.trimCpumask ?? false;
}

/**
 * native_flush_tlb_multi(): the remote CPUs of mm_cpumask that get the IPI.
 * With freed_tables every CPU of the mask, lazy ones included — unless
 * `ipiLazyOnFreedTables` is off (the bug the lazy model demonstrates).
 */
export function flushTargets(s: KView, self: number, f: FlushInfo, o: FlushTargetOptions): number {
  let m = 0;
  const mask = s.mmCpumask[f.mm]!;
  const n = s.loadedMm.length;
  for (let c = 0; c < n; c++) {
    if (c === self || !bits.has(mask, c)) continue;
    if ((f.freedTables && o.ipiLazyOnFreedTables) || shouldFlushTlb(s, c, f, o)) m = bits.add(m, c);
  }
  return m;
}

/** Some other CPU in mm_cpumask (flush_tlb_mm_range's test before flush_tlb_multi). */
export function othersInMask(s: KView, self: number, mm: number): boolean {
  return bits.del(s.mmCpumask[mm]!, self) !== 0;
}

// ------------------------------------------------------------------ ghost

/**
 * Ghost of the flushes in flight, one slot per initiating CPU: the version of
 * the PTE its flush covers as of the flush's start (flushStarted), stamped
 * into flushedUpTo when it returns (flushReturned). One slot covers one PTE:
 * every split (multi-step) flush of the models covers a single page of a
 * single page-table page. 0 when no flush is in flight, which also means
 * "kills no version".
 */
export function flushGhostFields(sh: Pick<HwShape, 'CPU' | 'versions'>) {
  return { flushStartVer: array(sh.CPU, int(0, sh.versions)) };
}
export type FlushGhostView = View<ReturnType<typeof flushGhostFields>>;

/** The one PTE (page-table page, va) a split flush covers, or null when it covers none. */
function coveredPte(s: HwView, f: FlushInfo, tables: readonly number[]): { t: number; va: number } | null {
  if (tables.length === 0) return null;
  const P = s.flushedUpTo[0]!.length;
  if (tables.length > 1 || (f.va === TLB_FLUSH_ALL && P > 1))
    throw new Error(
      `flush ghost: a flush in flight is recorded for one PTE only (got ${tables.length} page-table pages, ${vaName(f.va)} of ${P} pages); use flushStartedAndReturned for a one-step flush`,
    );
  return { t: tables[0]!, va: f.va === TLB_FLUSH_ALL ? 0 : f.va };
}

const stamp = (s: HwView, t: number, va: number, ver: number): void => {
  if (ver > s.flushedUpTo[t]![va]!) s.flushedUpTo[t]![va] = ver;
};

/**
 * Ghost: CPU c's flush `f` starts. Call it right after inc_mm_tlb_gen(), the
 * first shared-memory step of flush_tlb_mm_range() (arch/x86/mm/tlb.c:
 * new_tlb_gen = inc_mm_tlb_gen(mm), an atomic64_inc_return, so a LOCK XADD
 * and a full barrier after the initiator's PTE stores). The flush can only
 * promise the PTE stores that precede this increment in memory order: every
 * CPU it reaches, or that skips it as already flushed (local tlb_gen >=
 * new_tlb_gen) or catches up in switch_mm_irqs_off(), read mm->tlb_gen >=
 * new_tlb_gen and flushed after that read, so it walks past those stores. A
 * store after the increment may be refilled by a CPU that flushed in between
 * and then skips this flush; only the writer's own flush covers it. Records
 * the version of the covered PTE (in `tables`, mm's page-table pages) as c
 * sees it: under TSO c's own stores count even while still buffered (the
 * increment drains them anyway), other CPUs' buffered stores do not.
 */
export function flushStarted(s: HwView & FlushGhostView, c: number, f: FlushInfo, tables: readonly number[]): void {
  const p = coveredPte(s, f, tables);
  s.flushStartVer[c] = p ? pteSeen(s, c, p.t, p.va).ver : 0;
}

/**
 * Ghost: CPU c's flush `f` (started with flushStarted) has returned to its
 * initiator. The versions replaced before it started are now dead:
 * flushedUpTo of the covered PTE becomes at least the recorded version, never
 * the PTE's current one (a concurrent writer's newer version is promised
 * only by that writer's own flush). Clears c's slot.
 */
export function flushReturned(s: HwView & FlushGhostView, c: number, f: FlushInfo, tables: readonly number[]): void {
  const p = coveredPte(s, f, tables);
  if (p) stamp(s, p.t, p.va, s.flushStartVer[c]!);
  s.flushStartVer[c] = 0;
}

/**
 * Ghost: a flush that starts and returns within one step (a model's atomic
 * flush): every PTE it covers in `tables` is flushed up to its version as the
 * initiator c sees it now. Only for flushes no other step can interleave with;
 * a flush spread over several steps uses flushStarted/flushReturned.
 */
export function flushStartedAndReturned(s: HwView, c: number, f: FlushInfo, tables: readonly number[]): void {
  const P = s.flushedUpTo[0]!.length;
  for (const t of tables)
    for (let va = 0; va < P; va++) if (f.va === TLB_FLUSH_ALL || f.va === va) stamp(s, t, va, pteSeen(s, c, t, va).ver);
}

/**
 * flush_tlb_mm_range(f) from CPU c as one step: tlb_gen++, then
 * flush_tlb_func() on c and on every other CPU in mm_cpumask (the IPIs
 * delivered and handled at once; lazy CPUs flush too). For models whose race
 * is in what gets flushed, not in how the IPIs interleave (the shootdown
 * models spell that out). Ghost: what it covers in `tables` is flushed up to
 * now. Returns the phrase.
 */
export function flushTlbMmRangeOneStep(s: KView, c: number, f: FlushInfo, k: Pick<KernelShape, 'mms'>, tables: readonly number[]): string {
  const newGen = incMmTlbGen(s, f.mm, c);
  const g = { ...f, newGen };
  const done: string[] = [];
  for (let t = 0; t < s.loadedMm.length; t++)
    if (t === c || bits.has(s.mmCpumask[f.mm]!, t)) {
      flushTlbFunc(s, t, g, k);
      done.push(`CPU${t}`);
    }
  flushStartedAndReturned(s, c, g, tables);
  return `flush_tlb_mm_range(${describeFlushInfo(g)}): flush_tlb_func on ${done.join(', ')}`;
}
