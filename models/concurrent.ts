/**
 * "x86/mm/tlb: Flush remote and local TLBs concurrently" (Nadav Amit, 2019
 * series, patch 1; later merged as flush_tlb_multi()): flush_tlb_mm_range() bumps tlb_gen,
 * queues the remote CSDs and sends the IPIs FIRST, then runs the local
 * flush_tlb_func() (IRQs off) while the remote ones run, and then waits
 * (IRQs on) until every target has flushed and csd_unlock()ed (SYNC CSDs).
 * This is also the mainline order (smp_call_function_many_cond with
 * SCF_RUN_LOCAL). Expected to hold every property.
 */
import { array, bits, defineModel, enumOf, machine, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions, hwParams, tsoParams, type HwOptions } from '../src/hw/index.js';
import {
  csdLockable,
  describeFlushInfo,
  flushTargets,
  incMmTlbGen,
  maskNames,
  MM0,
  nmiUaccessOkay,
  phraseOf,
  unmapOpFields,
  world,
  munmapFlushInfo,
  flushIpiFairness,
  munmapSteps,
  munmapStepsFairness,
  sendFlushIpisFirst,
  syncFlushIpi,
  localFlushThenWait,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns } from '../properties/index.js';

export default defineModel({
  name: 'concurrent',
  description: 'Concurrent shootdown: IPIs first, local flush while they run, then wait until every target has flushed (SYNC CSDs).',
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
      pc: array(CPU, enumOf(['user', 'zapped', 'ipis-sent', 'waiting', 'returned'])),
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
        flush_tlb_mm_range: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'zapped' && csdLockable(s, c, bits.all(p.N)),
          effect: (s, c) => {
            sendFlushIpisFirst(s, c, { ipiLazyOnFreedTables: true, tables: w.tablesOf(MM0) });
          },
          describe: (s, c) =>
            phraseOf(s, (x) => {
              const f = munmapFlushInfo(x, MM0, c);
              incMmTlbGen(x, MM0);
              return `flush_tlb_mm_range(${describeFlushInfo(f)}): lock CSD, send flush IPI → ${maskNames(flushTargets(x, c, f, { ipiLazyOnFreedTables: true }), p.N)}`;
            }),
        },
        ...localFlushThenWait<S>(CPU, k, { waitIrqsOff: p.waitIrqsOff }),
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
      liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'ipis-sent' || s.pc[c] === 'waiting') },
      fairness: { ...munmapStepsFairness, ...flushIpiFairness, flush_tlb_mm_range: 'weak', local_flush: 'weak' },
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
