/**
 * "x86/mm/tlb: Use async and inline messages for flushing" (Nadav Amit, RFC
 * v2 11/12, May 2019; shared/seeds/002). flush_tlb_mm_range() queues the
 * remote CSDs, flushes locally while they are in flight, and then waits only
 * until every target has COPIED the flush_tlb_info and csd_unlock()ed it; the
 * target runs flush_tlb_func() afterwards, still in its IPI handler.
 *
 *   CPU0                                   CPU1
 *   munmap: ptep_get_and_clear [pmd_clear]
 *   flush_tlb_mm_range: tlb_gen++,
 *     lock csd, send IPI
 *   local flush_tlb_func                   [interrupt]
 *   wait for csd unlock                    copy csd info to stack, csd_unlock
 *   flush returns; free pages (**)         flush_tlb_func (IRQs still off)
 *
 * Claimed safe if (1) no page tables are freed and (2) nothing touches user
 * memory on the target between its ack and its flush. Options `freeTables`
 * and `nmiUaccess` (NMI handlers such as perf's copy_from_user_nmi) break one
 * condition each.
 */
import { array, bits, defineModel, enumOf, machine, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions, hwParams, tsoParams, type HwOptions } from '../src/hw/index.js';
import {
  csdLockable,
  csdUnlock,
  deferFlush,
  deferredFlushFields,
  describeFlushInfo,
  flushTargets,
  flushTlbFunc,
  incMmTlbGen,
  ipiDeliverable,
  maskNames,
  MM0,
  nmiUaccessOkay,
  peekDeferredFlush,
  phraseOf,
  readFlushInfo,
  sendFlushIpisFirst,
  takeDeferredFlush,
  unmapOpFields,
  world,
  munmapFlushInfo,
  munmapSteps,
  munmapStepsFairness,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns, ipiHandlerLeaves } from '../properties/index.js';

export default defineModel({
  name: 'async',
  description:
    'Nadav Amit 2019 async shootdown: targets acknowledge (csd_unlock) before they flush; ' +
    'unsafe if an NMI touches user memory in between (nmiUaccess) or page tables are freed (freeTables).',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs' },
    P: { default: 1, min: 1, max: 3, doc: 'user pages' },
    OPS: { default: 1, min: 1, max: 3, doc: 'munmap operations (each one flush_tlb_mm_range)' },
    nmiUaccess: { default: true, doc: 'NMI handlers may read user memory (copy_from_user_nmi) when nmi_uaccess_okay()' },
    freeTables: { default: false, doc: 'munmap frees the emptied page-table page after the flush (freed_tables)' },
    flushNeedsNextIpi: { default: false, doc: 'BUG (progress): the handler runs the acknowledged flush only when another flush IPI for it arrives' },
    ...hwParams,
    ...tsoParams,
  },
  check: (p) => (p.OPS > p.P ? `OPS=${p.OPS} needs P >= ${p.OPS}: each munmap operation unmaps a page of its own` : undefined),
  build: (p) => {
    const w = world({ N: p.N, P: p.P, OPS: p.OPS, tso: p.tso });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const o: HwOptions = { ...defaultHwOptions, dirtySetRechecksPte: p.dirtySetRechecksPte, dirtySetOnFaultingWrite: p.dirtySetOnFaultingWrite, storeBufferDepth: p.tso };
    const state = {
      ...w.fields,
      ...unmapOpFields(sh, p.OPS),
      ...deferredFlushFields(k),
      /** Where each CPU's task is in munmap → flush_tlb_mm_range → tlb_finish_mmu. */
      pc: array(CPU, enumOf(['user', 'zapped', 'ipis-sent', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const inHandler = (s: View<S>, c: number) => s.dfPending[c];
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user' && !inHandler(s, c);
    const anyIpiFor = (s: View<S>, t: number) => s.csd.some((row, from) => from !== t && row[t] === 'queued');
    const idle = (s: View<S>) => {
      for (let c = 0; c < p.N; c++) if (s.pc[c] !== 'user' || s.dfPending[c] || s.csd[c].includes('queued')) return false;
      return true;
    };
    return machine(state, {
      init: w.init,
      actions: {
        // ---------------------------------------------------------- initiator
        ...munmapSteps<S>({ CPU, PAGE, freeTables: p.freeTables, userMode, tablesOf: w.tablesOf, irqsOnAtReturn: false }),
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
        local_flush: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'ipis-sent',
          effect: (s, c) => {
            flushTlbFunc(s, c, readFlushInfo(s, c), k);
            s.pc[c] = 'waiting';
          },
          describe: (s, c) => phraseOf(s, (x) => `local ${flushTlbFunc(x, c, readFlushInfo(x, c), k)}`),
        },
        // ------------------------------------------------------------ targets
        ipi_ack: {
          over: [CPU, CPU],
          guard: (s, t, from) => ipiDeliverable(s, from, t) && !inHandler(s, t),
          effect: (s, t, from) => {
            deferFlush(s, t, readFlushInfo(s, from));
            csdUnlock(s, from, t);
            s.irqOff[t] = true;
          },
          describe: (s, t, from) => `IPI from CPU${from}: copy flush_tlb_info (${describeFlushInfo(readFlushInfo(s, from))}), csd_unlock (ack)`,
        },
        ipi_flush: {
          over: [CPU],
          guard: (s, t) => inHandler(s, t) && (!p.flushNeedsNextIpi || anyIpiFor(s, t)),
          effect: (s, t) => {
            flushTlbFunc(s, t, takeDeferredFlush(s, t), k);
            s.irqOff[t] = false;
          },
          describe: (s, t) => phraseOf(s, (x) => flushTlbFunc(x, t, peekDeferredFlush(x, t), k)),
        },
        // --------------------------------------------------- hardware, users
        ...hardwareActions<S>(sh, o, {
          userMode: (s, c) => userMode(s, c),
          nmiUaccess: p.nmiUaccess ? (s, c) => nmiUaccessOkay(s, c, MM0) : undefined,
        }),
      },
      invariants: coreProperties<S>(),
      endState: idle,
      liveness: {
        'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'ipis-sent' || s.pc[c] === 'waiting'),
        'handler-leaves': ipiHandlerLeaves<S>(CPU, inHandler),
      },
      // The kernel's steps weakly fair, IPI delivery (the ack) strongly fair.
      fairness: { ...munmapStepsFairness, flush_tlb_mm_range: 'weak', local_flush: 'weak', ipi_ack: 'strong', ipi_flush: 'weak' },
    });
  },
  expect: [
    { params: {}, verdict: 'violated', invariant: 'no-stale-access', note: 'NMI reads through the entry between ack and flush' },
    { params: { nmiUaccess: true }, verdict: 'violated', invariant: 'no-stale-access' },
    { params: { nmiUaccess: false, freeTables: true }, verdict: 'violated', invariant: 'no-freed-table-walk' },
    { params: { nmiUaccess: false, freeTables: false }, verdict: 'holds' },
    { params: { nmiUaccess: false, freeTables: false, tso: 1 }, verdict: 'holds', note: 'x86-TSO store buffers: the buffered csd_unlock changes nothing' },
    { params: { nmiUaccess: false, freeTables: false, N: 3 }, options: { liveness: true }, verdict: 'holds', note: 'every flush returns, every acknowledged flush is run' },
    { params: { nmiUaccess: false, freeTables: false, flushNeedsNextIpi: true }, options: { liveness: true }, verdict: 'violated', invariant: 'handler-leaves(1)', note: 'the last flush IPI is acknowledged and never run: no deadlock, the other CPUs go on' },
  ],
});
