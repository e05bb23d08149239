/**
 * arch/x86/mm/tlb.c flush machinery (recent tree, review §2.1-2.2):
 * struct flush_tlb_info, flush_tlb_func() with its generation logic,
 * should_flush_tlb() and native_flush_tlb_multi()'s choice of targets.
 * PTI hooks come from kernel/pti.ts; global ASIDs/INVLPGB are not modelled.
 */
import { array, bits, bool, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { cr3Write, invlpg, nativeFlushTlbGlobal } from '../hw/invalidate.js';
import type { Cr4View } from '../hw/cr4.js';
import { fence } from '../hw/store-buffer.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';
import { initMm, type KernelShape } from './shape.js';
import { switchMmIrqsOff, type KView } from './switch.js';
import { LOADED_MM_SWITCHING, ownIsLazy, ownLoadedMm } from './tlbstate.js';
import { incMmTlbGen, mmCpumaskClear } from './mm.js';
import { pmdSlotOf, pteSeen } from '../hw/pagetable.js';

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
  /** start (a page) or TLB_FLUSH_ALL. */
  va: number;
  /** end, exclusive (default va + 1): a range flush. Only one-step flushes carry it (the per-CPU slots hold one page). */
  vaEnd?: number;
  /** stride in pages (default 1; huge-page strides skip pages). */
  stride?: number;
  newGen: number;
  freedTables: boolean;
}

/** The pages a range flush covers (none for TLB_FLUSH_ALL: that is a full flush). */
export function flushPages(f: Pick<FlushInfo, 'va' | 'vaEnd' | 'stride'>): number[] {
  if (f.va === TLB_FLUSH_ALL) return [];
  if (f.stride !== undefined && !(Number.isInteger(f.stride) && f.stride >= 1)) throw new Error(`flush range: stride ${f.stride} (must be an integer >= 1)`);
  const out: number[] = [];
  for (let va = f.va; va < (f.vaEnd ?? f.va + 1); va += f.stride ?? 1) out.push(va);
  return out;
}

export function readFlushInfo(s: FlushInfoView, cpu: number): FlushInfo {
  return { mm: s.fiMm[cpu]!, va: s.fiVa[cpu]!, newGen: s.fiNewGen[cpu]!, freedTables: s.fiFreedTables[cpu]! };
}
/** A range beyond one page is for one-step flushes only: the per-CPU slots hold one page. */
const onePage = (f: FlushInfo, what: string): void => {
  if (f.va !== TLB_FLUSH_ALL && (flushPages(f).length !== 1 || flushPages(f)[0] !== f.va))
    throw new Error(`${what}: the flush covers ${rangeName(f)}, but a flush split over steps holds one page; use flushTlbMmRange for a range`);
};

export function writeFlushInfo(s: FlushInfoView, cpu: number, f: FlushInfo): void {
  onePage(f, 'writeFlushInfo');
  s.fiMm[cpu] = f.mm;
  s.fiVa[cpu] = f.va;
  s.fiNewGen[cpu] = f.newGen;
  s.fiFreedTables[cpu] = f.freedTables;
}

const vaName = (va: number) => (va === TLB_FLUSH_ALL ? 'all' : `va${va}`);
const rangeName = (f: Pick<FlushInfo, 'va' | 'vaEnd' | 'stride'>) => {
  const pages = flushPages(f);
  return pages.length > 1 ? `va${pages[0]}..va${pages.at(-1)}${(f.stride ?? 1) > 1 ? ` stride ${f.stride}` : ''}` : vaName(f.va);
};
/** The flush_tlb_info as a trace phrase; a flush before tlb_gen (newGen 0: a generation never published) shows none. */
export const describeFlushInfo = (f: FlushInfo) => `mm${f.mm} ${rangeName(f)}${f.newGen ? ` new_tlb_gen=${f.newGen}` : ''}${f.freedTables ? ' freed_tables' : ''}`;

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
    for (const va of flushPages(f)) {
      invlpg(s, c, va); // flush_tlb_one_user()
      hooks.flushOneUser?.(s, c, va, asid);
    }
    what = `INVLPG ${rangeName(f)}`;
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

/**
 * The one PTE (page-table page, va) a split flush covers, or null when it
 * covers none. `tables` are the mm's page-table pages, one per PMD slot in
 * slot order (world().tablesOf): the PTE is va's in its slot's page.
 */
function coveredPte(s: HwView, f: FlushInfo, tables: readonly number[]): { t: number; va: number } | null {
  onePage(f, 'flush ghost');
  if (tables.length === 0) return null;
  const P = s.flushedUpTo[0]!.length;
  const slots = s.pmd[0]!.length;
  if ((tables.length > 1 && tables.length !== slots) || (f.va === TLB_FLUSH_ALL && P > 1))
    throw new Error(
      `flush ghost: a flush in flight is recorded for one PTE only (got ${tables.length} page-table pages for ${slots} PMD slot${slots > 1 ? 's' : ''}, ${vaName(f.va)} of ${P} pages); use flushStartedAndReturned for a one-step flush`,
    );
  const va = f.va === TLB_FLUSH_ALL ? 0 : f.va;
  return { t: tables.length === 1 ? tables[0]! : tables[pmdSlotOf(s, va)]!, va };
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
  const pages = f.va === TLB_FLUSH_ALL ? [...Array(P).keys()] : flushPages(f).filter((va) => va < P);
  for (const t of tables) for (const va of pages) stamp(s, t, va, pteSeen(s, c, t, va).ver);
}

/**
 * flush_tlb_func() before 4.14 (before "x86/mm: Rework lazy TLB mode and TLB
 * freshness tracking" and the tlb_gen series): no generation compare. A CPU
 * running the mm flushes the range (INVLPG per page, or a CR3 reload for
 * TLB_FLUSH_ALL); a lazy CPU calls leave_mm(): it clears its mm_cpumask bit
 * and switches to init_mm (swapper_pg_dir). A CPU running another mm does
 * nothing. ctxs[].tlb_gen is not touched.
 */
export function flushTlbFuncPreGen(s: KView, c: number, f: FlushInfo, k: Pick<KernelShape, 'mms'>): string {
  const lm = ownLoadedMm(s, c);
  if (f.mm !== lm) return `flush_tlb_func: mm${f.mm} not active: nothing`;
  if (ownIsLazy(s, c)) {
    mmCpumaskClear(s, f.mm, c);
    return `flush_tlb_func: lazy → leave_mm: clear mm_cpumask bit, ${switchMmIrqsOff(s, c, initMm(k), k)}`;
  }
  if (f.va === TLB_FLUSH_ALL) {
    cr3Write(s, c, s.cr3Root[c]!, s.cr3Pcid[c]!, false);
    return 'flush_tlb_func: local_flush_tlb (CR3 reload)';
  }
  for (const va of flushPages(f)) invlpg(s, c, va);
  return `flush_tlb_func: INVLPG ${rangeName(f)}`;
}

/**
 * The IPI targets of flush_tlb_mm_range() before tlb_gen (4.13 and older,
 * flush_tlb_others()): every other CPU of mm_cpumask, lazy ones included
 * (their flush_tlb_func() leaves the mm).
 */
export function preGenFlushTargets(s: KView, self: number, mm: number): number {
  return bits.del(s.mmCpumask[mm]!, self);
}

/** How a one-step flush_tlb_mm_range() picks its targets and flushes; every option defaults to mainline. */
export interface FlushRangeOptions extends Partial<FlushTargetOptions> {
  /** tlb_single_page_flush_ceiling: a range of more pages is flushed whole (default 33). */
  ceiling?: number;
  /** The flush_tlb_func()/flush_tlb_mm_range() before tlb_gen (4.13 and older): see flushTlbFuncPreGen. */
  preGen?: boolean;
}

/**
 * flush_tlb_mm_range(mm, start, end, stride, freed_tables) from CPU c in any
 * context (a task of mm, a kernel thread, a workqueue), with the IPIs
 * delivered and handled within the step. Mainline: a range above the
 * ceiling becomes TLB_FLUSH_ALL; tlb_gen++ (LOCK XADD); flush_tlb_func() on
 * c if it has mm loaded; then on each other CPU of mm_cpumask that
 * should_flush_tlb() picks (every one with freed_tables): lazy CPUs and CPUs
 * on another mm catch up through tlb_gen when they switch to mm. With
 * `preGen`, every other CPU of the mask runs the old flush_tlb_func.
 * Ghost: what `tables` map in the range is flushed up to now. Returns the
 * phrase.
 */
export function flushTlbMmRange(s: KView, c: number, r: Omit<FlushInfo, 'newGen'>, k: Pick<KernelShape, 'mms'>, tables: readonly number[], o: FlushRangeOptions = {}): string {
  const whole = r.va === TLB_FLUSH_ALL || flushPages(r).length > (o.ceiling ?? 33);
  const f: FlushInfo = whole ? { mm: r.mm, va: TLB_FLUSH_ALL, newGen: 0, freedTables: r.freedTables } : { ...r, newGen: 0 };
  const parts: string[] = [];
  if (o.preGen) {
    fence(s, c); // the PTE stores before it: the kernel's flush path had an smp_mb() or a serializing flush here
    if (ownLoadedMm(s, c) === r.mm) parts.push(`local ${flushTlbFuncPreGen(s, c, f, k)}`);
    for (let t = 0; t < s.loadedMm.length; t++) if (t !== c && bits.has(s.mmCpumask[r.mm]!, t)) parts.push(`CPU${t} ${flushTlbFuncPreGen(s, t, f, k)}`);
  } else {
    f.newGen = incMmTlbGen(s, r.mm, c);
    const t: FlushTargetOptions = { ipiLazyOnFreedTables: o.ipiLazyOnFreedTables ?? true, switchingIpi: o.switchingIpi, trimCpumask: o.trimCpumask };
    const targets = flushTargets(s, c, f, t);
    // flush_tlb_multi() runs on the initiator too when it is in the mask and should_flush_tlb() says so; alone, it flushes if it has mm loaded.
    const mine = othersInMask(s, c, r.mm)
      ? bits.has(s.mmCpumask[r.mm]!, c) && ((f.freedTables && t.ipiLazyOnFreedTables) || (!ownIsLazy(s, c) && shouldFlushTlb(s, c, f, t)))
      : ownLoadedMm(s, c) === r.mm;
    if (mine) parts.push(`local ${flushTlbFunc(s, c, f, k)}`);
    for (let t = 0; t < s.loadedMm.length; t++) if (bits.has(targets, t)) parts.push(`CPU${t} ${flushTlbFunc(s, t, f, k)}`);
  }
  flushStartedAndReturned(s, c, f, tables);
  return `flush_tlb_mm_range(${describeFlushInfo(f)})${whole && r.va !== TLB_FLUSH_ALL ? ' (over the ceiling: whole mm)' : ''}: ${parts.join('; ') || 'nobody to flush'}`;
}

/** flush_tlb_page(vma, va): a one-page flush_tlb_mm_range. */
export function flushTlbPage(s: KView, c: number, mm: number, va: number, k: Pick<KernelShape, 'mms'>, tables: readonly number[], o: FlushRangeOptions = {}): string {
  return flushTlbMmRange(s, c, { mm, va, freedTables: false }, k, tables, o);
}

/**
 * flush_tlb_kernel_range(start, end): on_each_cpu() — every CPU, whatever
 * mm it runs, lazy or idle, except those `skip` names (a deferral such as
 * NOHZ_FULL's) — runs do_kernel_range_flush(): flush_tlb_one_kernel() per
 * page (INVLPG, which also drops global entries of the address), or above
 * the ceiling do_flush_tlb_all() (__flush_tlb_all: INVPCID type 2, or the
 * CR4.PGE toggle without INVPCID). `pages` are the kernel pages of the
 * range in the model's kernel mapping. Returns the phrase.
 */
export function flushTlbKernelRange(
  s: KView & Partial<Cr4View>,
  pages: readonly number[],
  o: { ceiling?: number; skip?: (cpu: number) => boolean; invpcid?: boolean } = {},
): string {
  const all = pages.length > (o.ceiling ?? 33);
  const done: string[] = [];
  for (let t = 0; t < s.loadedMm.length; t++) {
    if (o.skip?.(t)) continue;
    if (all) nativeFlushTlbGlobal(s, t, { invpcid: o.invpcid ?? true });
    else for (const va of pages) invlpg(s, t, va);
    done.push(`CPU${t}`);
  }
  return `flush_tlb_kernel_range(${pages.map((v) => `va${v}`).join(',')}): on_each_cpu ${all ? '__flush_tlb_all' : 'INVLPG'} on ${done.join(', ') || 'nobody'}`;
}
