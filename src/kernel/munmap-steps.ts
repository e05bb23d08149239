/**
 * The initiator's munmap steps that every shootdown model shares; the models
 * differ only in how flush_tlb_mm_range() reaches the other CPUs (local flush
 * first, IPIs first, ack before flush), which they spell out themselves.
 *
 *   munmap          unmap_region(): zap the PTE (and unhook the table page)
 *   flush_returns   all CSDs unlocked: flush_tlb_mm_range() returns
 *   tlb_finish_mmu  free the data frame and the unhooked page-table page
 *
 * and, for the models whose IPI handler flushes before it acknowledges
 * (SYNC CSD, as in every mainline kernel), the target's side:
 *
 *   flush_ipi       flush_tlb_func() in the IPI handler, then csd_unlock()
 *
 * Each CPU's progress is the model's `pc[c]` with at least the values
 * 'user' → 'zapped' → … → 'waiting' → 'returned' → 'user'.
 */
import type { ActionDef, Fairness } from '../engine/model.js';
import type { Sort, StateDecl, View } from '../engine/types.js';
import { hw } from '../hw/walk.js';
import {
  describeFlushInfo,
  type FlushInfo,
  type FlushTargetOptions,
  flushReturned,
  flushStarted,
  flushTargets,
  flushTlbFunc,
  flushTlbFuncPreGen,
  readFlushInfo,
  writeFlushInfo,
} from './flush.js';
import { incMmTlbGen } from './mm.js';
import type { KernelShape } from './shape.js';
import { csdAllUnlocked, csdQueue, csdUnlock, ipiDeliverable } from './smp.js';
import { describeZap, mapped, munmapFlushInfo, tlbFinishMmuFreeWith, unmapZap, type UnmapOpView } from './unmap.js';
import type { TableFree, TableFreeView } from './table-free.js';
import { MM0, phraseOf, type world, type WorldView } from './world.js';

type StepView = WorldView & View<ReturnType<typeof world>['fields']> & UnmapOpView & { pc: string[] };

export interface MunmapStepOptions<D extends StateDecl = StateDecl> {
  CPU: Sort;
  PAGE: Sort;
  freeTables: boolean;
  /** The CPU's task may start a munmap (it is in user mode, not in a handler). */
  userMode: (s: View<D>, c: number) => boolean;
  /** Page-table pages of mm0 whose walks the flush's return makes illegal once freed. */
  tablesOf: (mm: number) => readonly number[];
  /** The initiator waited with IRQs disabled and re-enables them when the flush returns. */
  irqsOnAtReturn: boolean;
  /** How tlb_finish_mmu gives the page-table page back (table-free.ts; the model then has tableFreeFields). Default 'direct'. */
  tableFree?: TableFree;
}

/**
 * Fairness of these steps for liveness (Machine.fairness): the initiator's
 * steps in the kernel are weakly fair (a CPU that can go on goes on); munmap
 * itself is not (a task need not unmap anything).
 */
export const munmapStepsFairness = { flush_returns: 'weak', tlb_finish_mmu: 'weak' } as const satisfies Record<string, Fairness>;

/**
 * IPI delivery is strongly fair: a target's IRQs may be off now and then
 * (its own flush, a handler), and an IPI that keeps becoming deliverable is
 * delivered (the APIC holds it pending until IRQs are on: SDM vol. 3
 * §11.8.4 / 13.8.4, interrupt acceptance for fixed interrupts).
 */
export const flushIpiFairness = { flush_ipi: 'strong' } as const satisfies Record<string, Fairness>;

export function munmapSteps<D extends StateDecl>(o: MunmapStepOptions<D>): Record<'munmap' | 'flush_returns' | 'tlb_finish_mmu', ActionDef<D>> {
  const v = (s: View<D>) => s as unknown as StepView;
  const how = o.tableFree ?? 'direct';
  // 'direct' touches no table-free field, so a model without them is fine.
  const finish = (x: StepView, c: number) => tlbFinishMmuFreeWith(x as StepView & TableFreeView, c, how);
  return {
    munmap: {
      over: [o.CPU, o.PAGE],
      guard: (s, c, va) => o.userMode(s, c!) && v(s).opsLeft > 0 && mapped(hw(s), MM0, va!),
      effect: (s, c, va) => {
        unmapZap(v(s), c!, MM0, va!, o.freeTables);
        v(s).pc[c!] = 'zapped';
      },
      describe: (s, c, va) => describeZap(v(s), MM0, va!, o.freeTables),
    },
    flush_returns: {
      over: [o.CPU],
      guard: (s, c) => v(s).pc[c!] === 'waiting' && csdAllUnlocked(v(s), c!),
      effect: (s, c) => {
        flushReturned(v(s), c!, readFlushInfo(v(s), c!), o.tablesOf(MM0));
        if (o.irqsOnAtReturn) v(s).irqOff[c!] = false;
        v(s).pc[c!] = 'returned';
      },
      describe: (s, c) => `all CSDs unlocked: flush_tlb_mm_range(va${v(s).opVa[c!]}) returns`,
    },
    tlb_finish_mmu: {
      over: [o.CPU],
      guard: (s, c) => v(s).pc[c!] === 'returned',
      effect: (s, c) => {
        finish(v(s), c!);
        v(s).pc[c!] = 'user';
      },
      describe: (s, c) => phraseOf(v(s), (x) => finish(x, c!)),
    },
  };
}

/**
 * The first step of flush_tlb_mm_range() in the "local flush first" order
 * (before the 2019 series): bump tlb_gen (the flush starts: the ghost
 * records what it covers in `tables`), publish the flush_tlb_info and run
 * flush_tlb_func() locally with IRQs off. Leaves pc[c] = 'local-flushed' for
 * the model's remote step (IPIs, or a paravirtual flush).
 * `preGen`: the same step before tlb_gen (4.13 and older): no generation,
 * the old flush_tlb_func() (flushTlbFuncPreGen); the remote step then IPIs
 * every other CPU of mm_cpumask (preGenFlushTargets).
 */
export function localFlushFirst<D extends StateDecl>(
  CPU: Sort,
  k: Pick<KernelShape, 'mms'>,
  tables: readonly number[],
  o: { preGen?: boolean } = {},
): Record<'flush_tlb_mm_range', ActionDef<D>> {
  const v = (s: View<D>) => s as unknown as StepView;
  const local = (x: StepView, c: number, f: FlushInfo) => (o.preGen ? flushTlbFuncPreGen(x, c, f, k) : flushTlbFunc(x, c, f, k));
  return {
    flush_tlb_mm_range: {
      over: [CPU],
      guard: (s, c) => v(s).pc[c!] === 'zapped',
      effect: (s, c) => {
        const x = v(s);
        const f = munmapFlushInfo(x, MM0, c!);
        if (o.preGen) f.newGen = 0;
        else incMmTlbGen(x, MM0, c!);
        flushStarted(x, c!, f, tables);
        writeFlushInfo(x, c!, f);
        local(x, c!, f);
        x.pc[c!] = 'local-flushed';
      },
      describe: (s, c) =>
        phraseOf(v(s), (x) => {
          const f = munmapFlushInfo(x, MM0, c!);
          if (o.preGen) f.newGen = 0;
          else incMmTlbGen(x, MM0);
          return `flush_tlb_mm_range(${describeFlushInfo(f)}): local ${local(x, c!, f)}`;
        }),
    },
  };
}

/**
 * The first step of flush_tlb_mm_range() in the "IPIs first" order
 * (flush_tlb_multi(), Nadav Amit's 2019 series, mainline since): bump
 * tlb_gen (the flush starts: the ghost records what it covers, in mm0's
 * page-table pages `o.tables`), publish the flush_tlb_info, lock the CSDs of
 * the CPUs should_flush_tlb() picks and send the IPIs. The local flush follows
 * as a step of its own. Leaves pc[c] = 'ipis-sent'.
 */
export function sendFlushIpisFirst(x: StepView, c: number, o: FlushTargetOptions & { tables: readonly number[] }): void {
  const f = munmapFlushInfo(x, MM0, c);
  incMmTlbGen(x, MM0, c);
  flushStarted(x, c, f, o.tables);
  writeFlushInfo(x, c, f);
  csdQueue(x, c, flushTargets(x, c, f, o));
  x.pc[c] = 'ipis-sent';
}

/**
 * The second step of flush_tlb_mm_range() in the "IPIs first" order: the
 * local flush_tlb_func() (IRQs off around it) while the IPIs run, then wait
 * for the CSDs. `waitIrqsOff` is the bug of waiting with IRQs still off (two
 * initiators then wait for each other). Leaves pc[c] = 'waiting'.
 */
export function localFlushThenWait<D extends StateDecl>(CPU: Sort, k: Pick<KernelShape, 'mms'>, o: { waitIrqsOff?: boolean } = {}): Record<'local_flush', ActionDef<D>> {
  const v = (s: View<D>) => s as unknown as StepView;
  return {
    local_flush: {
      over: [CPU],
      guard: (s, c) => v(s).pc[c!] === 'ipis-sent',
      effect: (s, c) => {
        flushTlbFunc(v(s), c!, readFlushInfo(v(s), c!), k);
        if (o.waitIrqsOff) v(s).irqOff[c!] = true;
        v(s).pc[c!] = 'waiting';
      },
      describe: (s, c) => phraseOf(v(s), (x) => `local ${flushTlbFunc(x, c!, readFlushInfo(x, c!), k)}; wait for CSDs${o.waitIrqsOff ? ' (IRQs OFF)' : ''}`),
    },
  };
}

/**
 * The target of a flush IPI from `from`: flush_tlb_func() first, then
 * csd_unlock() (the initiator may return). `preGen`: the old
 * flush_tlb_func() (a lazy target leaves the mm, flushTlbFuncPreGen).
 */
export function syncFlushIpi<D extends StateDecl>(CPU: Sort, k: Pick<KernelShape, 'mms'>, o: { preGen?: boolean } = {}): Record<'flush_ipi', ActionDef<D>> {
  const v = (s: View<D>) => s as unknown as StepView;
  const handler = (x: StepView, t: number, f: FlushInfo) => (o.preGen ? flushTlbFuncPreGen(x, t, f, k) : flushTlbFunc(x, t, f, k));
  return {
    flush_ipi: {
      over: [CPU, CPU],
      guard: (s, t, from) => ipiDeliverable(v(s), from!, t!),
      effect: (s, t, from) => {
        handler(v(s), t!, readFlushInfo(v(s), from!));
        csdUnlock(v(s), from!, t!);
      },
      describe: (s, t, from) => phraseOf(v(s), (x) => `IPI from CPU${from}: ${handler(x, t!, readFlushInfo(x, from!))}; csd_unlock`),
    },
  };
}
