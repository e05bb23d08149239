/**
 * arch/x86/mm/tlb.c: switch_mm_irqs_off(), choose_new_asid(),
 * load_new_mm_cr3(), and enter_lazy_tlb() (asm/tlbflush.h), recent tree
 * (docs/x86-semantics-review.md §2.3-2.4), without PTI and global ASIDs.
 *
 * Runs with IRQs off. `switchMmIrqsOff` is one atomic step (what the models
 * use by default). The same code is also available as three steps, so that
 * NMIs (and remote CPUs) can run in the window between them:
 *   switchMmBegin   is_lazy=false / loaded_mm = LOADED_MM_SWITCHING,
 *                   set the mm_cpumask bit (or smp_mb()), read tlb_gen,
 *                   choose_new_asid()
 *   switchMmLoadCr3 ctxs[asid] = {ctx_id, tlb_gen}; load_new_mm_cr3()
 *   switchMmEnd     loaded_mm = next, loaded_mm_asid = asid
 * The per-CPU plan between the steps lives in `switchStepFields`.
 * Under TSO (hw/store-buffer.ts) loaded_mm/is_lazy are plain stores, the
 * cpumask update is a LOCK BTS, smp_mb() and the CR3 write drain the buffer.
 */
import { array, bits, bool, int, NONE } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { cr3Write } from '../hw/invalidate.js';
import { fence } from '../hw/store-buffer.js';
import type { HwView } from '../hw/walk.js';
import { mmCpumaskClear, mmCpumaskSet, type MmView } from './mm.js';
import { ctxIdOf, initMm, type KernelShape } from './shape.js';
import { LOADED_MM_SWITCHING, ownIsLazy, ownLoadedMm, setIsLazy, setLoadedMm, type TlbStateView } from './tlbstate.js';

export type KView = HwView & MmView & TlbStateView;

/** choose_new_asid(): reuse the slot holding next's ctx_id, else take next_asid round-robin. */
export function chooseNewAsid(s: KView, c: number, next: number, gen: number): { asid: number; needFlush: boolean } {
  const n = s.ctxCtxId[c]!.length;
  for (let a = 0; a < n; a++) if (s.ctxCtxId[c]![a] === ctxIdOf(next)) return { asid: a, needFlush: s.ctxTlbGen[c]![a]! < gen };
  const a = s.nextAsid[c]!;
  s.nextAsid[c] = (a + 1) % n;
  return { asid: a, needFlush: true };
}

/** load_new_mm_cr3(): CR3 = next's pgd | kPCID, with bit 63 (no flush) unless need_flush. */
export function loadNewMmCr3(s: KView, c: number, mm: number, asid: number, flush: boolean): void {
  cr3Write(s, c, mm, asid, !flush);
}

/** Options and hooks of switch_mm_irqs_off(); every barrier defaults to mainline (present). */
export interface SwitchOptions {
  /** load_new_mm_cr3: invalidate_user_asid() under PTI. */
  onFlushingLoad?: (s: KView, c: number, asid: number) => void;
  /** smp_mb() between is_lazy=false and the tlb_gen read when leaving lazy mode (same mm). Default true. */
  leaveLazyMb?: boolean;
  /** loaded_mm = LOADED_MM_SWITCHING before the CR3 write (other mm). Default true. */
  switchingMarker?: boolean;
  /** smp_mb() before the tlb_gen read when the mm_cpumask bit is already set (other mm). Default true. */
  switchingMb?: boolean;
  /**
   * switch_mm() before tlb_gen and PCID reuse (4.13 and older): to another
   * mm, set next's mm_cpumask bit, load CR3 with a flush (ASID 0, no PCID
   * reuse) and clear prev's bit after the CR3 write (831d52bc1539, "x86,
   * mm: avoid possible bogus tlb entries by clearing prev mm_cpumask after
   * switching mm"); leaving lazy mode on the same mm reloads nothing: a
   * lazy CPU that a flush reached has left for init_mm (leave_mm) already.
   * Pairs with flushTlbFuncPreGen.
   */
  preGen?: boolean;
}

/** What is left to do after switchMmBegin (null: it returned early, nothing changes). */
export interface SwitchPlan {
  next: number;
  asid: number;
  needFlush: boolean;
  gen: number;
}

const mmName = (next: number, k: Pick<KernelShape, 'mms'>) => (next === initMm(k) ? 'init_mm' : `mm${next}`);

/** switch_mm_irqs_off(NULL, next) up to choose_new_asid(). */
export function switchMmBegin(s: KView, c: number, next: number, k: Pick<KernelShape, 'mms'>, o: SwitchOptions = {}): { plan: SwitchPlan | null; phrase: string } {
  const prev = ownLoadedMm(s, c);
  const prevAsid = s.loadedAsid[c]!;
  const wasLazy = ownIsLazy(s, c);
  if (wasLazy) setIsLazy(s, c, false);
  if (o.preGen) {
    if (prev === next) return { plan: null, phrase: `switch_mm(${mmName(next, k)}): same mm${wasLazy ? ', leave lazy: still in mm_cpumask, no reload' : ': nothing'}` };
    if (next !== initMm(k)) mmCpumaskSet(s, next, c);
    return { plan: { next, asid: 0, needFlush: true, gen: s.tlbGen[next]! }, phrase: `switch_mm(${mmName(next, k)}) begins: set mm_cpumask bit → CR3 reload (no PCID reuse)` };
  }
  let ns: { asid: number; needFlush: boolean };
  let gen: number;
  let what: string;
  if (prev === next) {
    if (!wasLazy) return { plan: null, phrase: `switch_mm(mm${next}): same mm, not lazy: nothing` };
    if (o.leaveLazyMb ?? true) fence(s, c); // smp_mb()
    gen = s.tlbGen[next]!;
    if (s.ctxTlbGen[c]![prevAsid] === gen)
      return { plan: null, phrase: `switch_mm(mm${next}): leave lazy${(o.leaveLazyMb ?? true) ? '' : ' (no smp_mb)'}, tlb_gen ${gen} unchanged: no flush` };
    ns = { asid: prevAsid, needFlush: true };
    what = `leave lazy, tlb_gen ${gen}`;
  } else {
    if (o.switchingMarker ?? true) setLoadedMm(s, c, LOADED_MM_SWITCHING);
    let mask: string;
    if (next !== initMm(k) && !bits.has(s.mmCpumask[next]!, c)) {
      mmCpumaskSet(s, next, c);
      mask = 'set mm_cpumask bit';
    } else {
      if (o.switchingMb ?? true) fence(s, c); // smp_mb()
      mask = (o.switchingMb ?? true) ? 'smp_mb' : 'no smp_mb';
    }
    gen = s.tlbGen[next]!;
    ns = chooseNewAsid(s, c, next, gen);
    what = `${(o.switchingMarker ?? true) ? 'loaded_mm=LOADED_MM_SWITCHING, ' : ''}${mask}, tlb_gen ${gen}`;
  }
  return { plan: { next, asid: ns.asid, needFlush: ns.needFlush, gen }, phrase: `switch_mm(${mmName(next, k)}) begins: ${what} → asid ${ns.asid}${ns.needFlush ? ', need flush' : ''}` };
}

/** ctxs[asid] = {ctx_id, tlb_gen} if flushing; load_new_mm_cr3() (serializing). */
export function switchMmLoadCr3(s: KView, c: number, plan: SwitchPlan, o: SwitchOptions = {}): string {
  if (plan.needFlush) {
    s.ctxCtxId[c]![plan.asid] = ctxIdOf(plan.next);
    s.ctxTlbGen[c]![plan.asid] = plan.gen;
    o.onFlushingLoad?.(s, c, plan.asid); // load_new_mm_cr3: invalidate_user_asid() under PTI
  }
  const prev = ownLoadedMm(s, c); // preGen has no LOADED_MM_SWITCHING: still prev
  loadNewMmCr3(s, c, plan.next, plan.asid, plan.needFlush);
  if (o.preGen && prev !== plan.next && bits.has(s.mmCpumask[prev]!, c)) {
    mmCpumaskClear(s, prev, c);
    return `CR3 write flushing pcid${plan.asid}; clear mm${prev}'s mm_cpumask bit`;
  }
  return `CR3 write ${plan.needFlush ? `flushing pcid${plan.asid} (ctxs.tlb_gen=${plan.gen})` : 'no-flush'}`;
}

/** barrier(); loaded_mm = next; loaded_mm_asid = asid. */
export function switchMmEnd(s: KView, c: number, plan: SwitchPlan): void {
  setLoadedMm(s, c, plan.next);
  s.loadedAsid[c] = plan.asid;
}

/** switch_mm_irqs_off(NULL, next) as one step: returns a trace phrase. */
export function switchMmIrqsOff(s: KView, c: number, next: number, k: Pick<KernelShape, 'mms'>, o: SwitchOptions = {}): string {
  const { plan, phrase } = switchMmBegin(s, c, next, k, o);
  if (!plan) return phrase;
  const cr3 = switchMmLoadCr3(s, c, plan, o);
  switchMmEnd(s, c, plan);
  return `switch_mm(${mmName(next, k)}): asid ${plan.asid}, ${cr3}`;
}

/** The plan of a switch in progress (swNext = NONE: no switch in progress). */
export function switchStepFields(k: KernelShape) {
  const { CPU, mms, asids, maxGen } = k;
  return {
    swNext: array(CPU, int(NONE, mms - 1, { init: NONE })),
    swAsid: array(CPU, int(0, asids - 1)),
    swNeedFlush: array(CPU, bool()),
    swGen: array(CPU, int(0, maxGen)),
  };
}
export type SwitchStepView = View<ReturnType<typeof switchStepFields>>;

export function saveSwitchPlan(s: SwitchStepView, c: number, p: SwitchPlan | null): void {
  s.swNext[c] = p ? p.next : NONE;
  s.swAsid[c] = p ? p.asid : 0;
  s.swNeedFlush[c] = p ? p.needFlush : false;
  s.swGen[c] = p ? p.gen : 0;
}
export function switchPlanOf(s: SwitchStepView, c: number): SwitchPlan | null {
  const next = s.swNext[c]!;
  return next === NONE ? null : { next, asid: s.swAsid[c]!, needFlush: s.swNeedFlush[c]!, gen: s.swGen[c]! };
}

/** enter_lazy_tlb(): keep CR3 (and so speculative walks of the old mm), just mark lazy. */
export function enterLazyTlb(s: KView, c: number, k: Pick<KernelShape, 'mms'>): void {
  if (ownLoadedMm(s, c) === initMm(k)) return;
  setIsLazy(s, c, true);
}
