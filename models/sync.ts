/**
 * Baseline Linux x86 shootdown before the 2019 series (arch/x86/mm/tlb.c,
 * ~v5.1): munmap → tlb_finish_mmu → flush_tlb_mm_range():
 *   tlb_gen++; local flush_tlb_func() with IRQs off; then
 *   flush_tlb_multi() = smp_call_function_many(mm_cpumask, flush_tlb_func,
 *   wait=1, cond=should_flush_tlb): each target runs flush_tlb_func() in its
 *   IPI handler and only then csd_unlock()s (SYNC CSD);
 *   the initiator spins (IRQs on) until every CSD is unlocked;
 *   then the data frame and the emptied page-table page are freed.
 * Expected to hold every property. Option `waitIrqsOff` is the classic bug of
 * calling smp_call_function_many() with IRQs disabled: two CPUs flushing at
 * once wait for each other forever (N=2, P=2, OPS=2).
 */
import { array, bits, defineModel, enumOf, machine, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions, hwParams, tsoParams, type HwOptions } from '../src/hw/index.js';
import {
  csdLockable,
  csdQueue,
  flushTargets,
  maskNames,
  MM0,
  nmiUaccessOkay,
  readFlushInfo,
  unmapOpFields,
  world,
  flushIpiFairness,
  munmapSteps,
  munmapStepsFairness,
  syncFlushIpi,
  localFlushFirst,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns } from '../properties/index.js';

export default defineModel({
  name: 'sync',
  description: 'Baseline shootdown: local flush, then IPIs whose handlers flush before csd_unlock; the initiator waits for all of them.',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs' },
    P: { default: 1, min: 1, max: 3, doc: 'user pages' },
    OPS: { default: 1, min: 1, max: 3, doc: 'munmap operations (each one flush_tlb_mm_range)' },
    nmiUaccess: { default: true, doc: 'NMI handlers may read user memory (copy_from_user_nmi) when nmi_uaccess_okay()' },
    freeTables: { default: true, doc: 'munmap frees the emptied page-table page after the flush (freed_tables)' },
    waitIrqsOff: { default: false, doc: 'BUG: the initiator waits for the CSDs with IRQs disabled' },
    ...hwParams,
    ...tsoParams,
  },
  check: (p) => (p.OPS > p.P ? `OPS=${p.OPS} needs P >= ${p.OPS}: each munmap operation unmaps a page of its own` : undefined),
  build: (p) => {
    const OPS = p.OPS;
    const w = world({ N: p.N, P: p.P, OPS, tso: p.tso });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const o: HwOptions = { ...defaultHwOptions, dirtySetRechecksPte: p.dirtySetRechecksPte, dirtySetOnFaultingWrite: p.dirtySetOnFaultingWrite, storeBufferDepth: p.tso };
    const state = {
      ...w.fields,
      ...unmapOpFields(sh, OPS),
      /** Where each CPU's task is in munmap → flush_tlb_mm_range → tlb_finish_mmu. */
      pc: array(CPU, enumOf(['user', 'zapped', 'local-flushed', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user';
    const idle = (s: View<S>) => {
      for (let c = 0; c < p.N; c++) if (s.pc[c] !== 'user' || s.csd[c].includes('queued')) return false;
      return true;
    };
    return machine(state, {
      init: w.init,
      actions: {
        // ---------------------------------------------------------- initiator
        ...munmapSteps<S>({ CPU, PAGE, freeTables: p.freeTables, userMode, tablesOf: w.tablesOf, irqsOnAtReturn: true }),
        ...localFlushFirst<S>(CPU, k, w.tablesOf(MM0)),
        flush_tlb_multi: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'local-flushed' && csdLockable(s, c, bits.all(p.N)),
          effect: (s, c) => {
            csdQueue(s, c, flushTargets(s, c, readFlushInfo(s, c), { ipiLazyOnFreedTables: true }));
            if (p.waitIrqsOff) s.irqOff[c] = true;
            s.pc[c] = 'waiting';
          },
          describe: (s, c) =>
            `flush_tlb_multi: lock CSD, send flush IPI → ${maskNames(flushTargets(s, c, readFlushInfo(s, c), { ipiLazyOnFreedTables: true }), p.N)}, wait${p.waitIrqsOff ? ' (IRQs OFF)' : ''}`,
        },
        // ------------------------------------------------------------ targets
        ...syncFlushIpi<S>(CPU, k),
        // --------------------------------------------------- hardware, users
        ...hardwareActions<S>(sh, o, {
          userMode: (s, c) => userMode(s, c),
          nmiUaccess: p.nmiUaccess ? (s, c) => nmiUaccessOkay(s, c, MM0) : undefined,
        }),
      },
      invariants: coreProperties<S>(),
      endState: idle,
      liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'local-flushed' || s.pc[c] === 'waiting') },
      fairness: { ...munmapStepsFairness, ...flushIpiFairness, flush_tlb_mm_range: 'weak', flush_tlb_multi: 'weak' },
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { freeTables: false }, verdict: 'holds' },
    { params: { tso: 1 }, verdict: 'holds', note: 'x86-TSO store buffers: the locked xchg/tlb_gen/llist_add and serializing flushes order every store that matters' },
    { params: { dirtySetRechecksPte: false }, verdict: 'violated', invariant: 'no-lost-dirty', note: 'write through a clean entry sets D in the already harvested PTE' },
    { params: { waitIrqsOff: true, P: 2, OPS: 2 }, verdict: 'violated', invariant: 'deadlock' },
    { params: { N: 3 }, options: { liveness: true }, verdict: 'holds', note: 'every flush returns: the kernel steps weakly fair, IPI delivery strongly fair' },
    { params: { waitIrqsOff: true, P: 2, OPS: 2 }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(0)', note: 'each initiator waits, IRQs off, for the other: neither flush returns' },
  ],
});
