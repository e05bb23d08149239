/**
 * Text poking with a temporary mm (arch/x86/kernel/alternative.c
 * `__text_poke`, `use_temporary_mm`/`unuse_temporary_mm`; review §2.6):
 * the poking CPU maps the kernel text page writable at `poking_addr`, a
 * user-half address of the private `poking_mm`, switches to poking_mm, writes,
 * clears the PTE and gets rid of the translation, and switches back.
 *
 * - `pokePte()`: set_pte_at with PAGE_KERNEL & ~_PAGE_GLOBAL: present,
 *   writable, and A and D already set (PAGE_KERNEL has _PAGE_ACCESSED |
 *   _PAGE_DIRTY), so a write through a cached entry never re-walks; or with
 *   G set, as plain PAGE_KERNEL has it without PTI (Andy, Jan 2019: "Please
 *   tell me that the global bit isn't set in there").
 * - `useTemporaryMm()` / `unuseTemporaryMm()`: leave_mm() first if lazy
 *   (2020 fix), switch_mm_irqs_off(); on the way back clear the CPU's bit in
 *   the temporary mm's cpumask (explicit since 2024; older switch_mm cleared
 *   prev's bit itself) and switch to the previous mm.
 * - `flushTlbOneUser()`: __flush_tlb_one_user(): INVLPG (current PCID, any
 *   global entry), and under PTI the user-PCID copy: INVPCID type 0 on the
 *   user PCID, or invalidate_user_asid() (mark it in user_pcid_flush_mask),
 *   or — the option under study — nothing.
 * - `handlerUaccessWrite()`: an interrupt or NMI handler that writes a user
 *   address (a buggy handler, bpf_probe_write_user()) on whatever CR3 is
 *   loaded. Ghost: if it lands in the text frame while its CPU is inside a
 *   poke, `handlerTextWrite` latches the CPU (property
 *   no-handler-write-during-poke).
 */
import { array, bits, enumOf, int, NONE, ref } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { access, accessPlan, describeAccess } from '../hw/access.js';
import { latch } from '../hw/ghost.js';
import { invlpg, invpcid } from '../hw/invalidate.js';
import type { HwOptions } from '../hw/options.js';
import { pteStore } from '../hw/pagetable.js';
import { setPteGlobal } from '../hw/pte-global.js';
import type { HwShape } from '../hw/shape.js';
import { tlbLookup } from '../hw/tlb.js';
import { walkPlan, type HwView } from '../hw/walk.js';
import { initMm, type KernelShape } from './shape.js';
import { invalidateUserAsid, userPcid, type PtiView, type UserPcidFlush } from './pti.js';
import { switchMmIrqsOff, type KView } from './switch.js';

/** Where the poking CPU is in __text_poke (idle = not poking). */
export const POKE_PCS = ['idle', 'mapped', 'written', 'cleared', 'unused', 'flushing'] as const;
export type PokePc = (typeof POKE_PCS)[number];

export function textPokeFields(sh: Pick<HwShape, 'CPU'>, pokes: number) {
  const { CPU } = sh;
  return {
    /** Progress of each CPU's text_poke(); text_mutex allows one at a time. */
    pokePc: array(CPU, enumOf(POKE_PCS)),
    /** Pokes left in this run. */
    pokesLeft: int(0, pokes, { init: pokes }),
    /** ghost: first CPU whose interrupt/NMI handler wrote the text frame while that CPU was poking (NONE = never). */
    handlerTextWrite: ref(CPU, { none: true }),
  };
}
export type TextPokeView = View<ReturnType<typeof textPokeFields>>;

/** text_mutex is free: nobody is inside __text_poke. */
export const noPokeRunning = (s: TextPokeView): boolean => s.pokePc.every((pc) => pc === 'idle');

/**
 * set_pte_at(poking_mm, poking_addr, mk_pte(page, PAGE_KERNEL & ~_PAGE_GLOBAL));
 * `global`: plain PAGE_KERNEL as in v1-v3 of the series, G set (without PTI).
 */
export function pokePte(s: HwView, table: number, va: number, frame: number, o: { global?: boolean } = {}): void {
  pteStore(s, table, va, { present: true, writable: true, accessed: true, dirty: true, frame });
  setPteGlobal(s, table, va, o.global ?? false);
}
/** pte_clear(poking_mm, poking_addr). */
export function pokePteClear(s: HwView, table: number, va: number): void {
  pteStore(s, table, va, { present: false, writable: false, accessed: false, dirty: false, frame: 0 });
  setPteGlobal(s, table, va, false);
}

type SwitchHooks = Parameters<typeof switchMmIrqsOff>[4];

/** use_temporary_mm(mm): leave lazy mode first, then switch_mm_irqs_off(). Returns a trace phrase. */
export function useTemporaryMm(s: KView, c: number, mm: number, k: Pick<KernelShape, 'mms'>, hooks?: SwitchHooks): string {
  let pre = '';
  if (s.isLazy[c]) pre = `leave_mm: ${switchMmIrqsOff(s, c, initMm(k), k, hooks)}; `;
  return `use_temporary_mm: ${pre}${switchMmIrqsOff(s, c, mm, k, hooks)}`;
}

/** unuse_temporary_mm(prev): cpumask_clear_cpu(cpu, mm_cpumask(mm)); switch_mm_irqs_off(prev). */
export function unuseTemporaryMm(s: KView, c: number, mm: number, prev: number, k: Pick<KernelShape, 'mms'>, hooks?: SwitchHooks): string {
  s.mmCpumask[mm] = bits.del(s.mmCpumask[mm]!, c);
  return `unuse_temporary_mm: clear own mm_cpumask bit, ${switchMmIrqsOff(s, c, prev, k, hooks)}`;
}

/** How __flush_tlb_one_user() drops the user-PCID copy under PTI ('none' = it does not): pti.ts's UserPcidFlush. */
export type UserPcidStrategy = UserPcidFlush;

/**
 * __flush_tlb_one_user(va) on CPU c: INVLPG va, then under PTI the user PCID
 * of the loaded ASID: INVPCID type 0, or invalidate_user_asid(). Returns a phrase.
 */
export function flushTlbOneUser(s: KView, c: number, va: number, o: { pti: boolean; asids: number; user: UserPcidStrategy }): string {
  invlpg(s, c, va);
  const head = `INVLPG va${va} (pcid${s.cr3Pcid[c]})`;
  if (!o.pti) return head;
  const asid = s.loadedAsid[c]!;
  switch (o.user) {
    case 'invpcid':
      invpcid(s, c, 0, userPcid(asid, o.asids), va);
      return `${head}, INVPCID type 0 (pcid${userPcid(asid, o.asids)}, va${va})`;
    case 'mark':
      invalidateUserAsid(s as KView & PtiView, c, asid);
      return `${head}, invalidate_user_asid(${asid})`;
    case 'none':
      return `${head}, user PCID pcid${userPcid(asid, o.asids)} NOT invalidated`;
  }
}

/**
 * A handler's uaccess write of va on CPU c (`inPoke`: c is inside __text_poke).
 * Returns whether it wrote the text frame.
 */
export function handlerUaccessWrite(s: HwView & TextPokeView, c: number, va: number, o: HwOptions, textFrame: number, inPoke: boolean): boolean {
  const frame = frameOfAccess(s, c, va);
  const plan = access(s, c, va, 'write', o);
  if (!plan || plan.outcome !== 'ok') return false;
  const text = frame === textFrame;
  if (text && inPoke) s.handlerTextWrite = latch(s.handlerTextWrite, c);
  return text;
}

/** The frame a write of va on CPU c would reach now (TLB hit or walk); NONE = no translation. */
export function frameOfAccess(s: HwView, c: number, va: number): number {
  const e = tlbLookup(s, c, s.cr3Pcid[c]!, va);
  if (e) return e.frame;
  const w = walkPlan(s, c, va);
  return w && w.present ? s.pteFrame[w.table]![va]! : NONE;
}

export function describeHandlerWrite(s: HwView, c: number, va: number, o: HwOptions, textFrame: number, who: string): string {
  const d = describeAccess(s, c, va, 'write', o, who);
  const plan = accessPlan(s, c, va, 'write', o);
  return plan?.outcome === 'ok' && frameOfAccess(s, c, va) === textFrame ? `${d} = KERNEL TEXT` : d;
}
