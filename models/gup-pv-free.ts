/**
 * get_user_pages_fast() walks the page tables with IRQs off and nothing
 * else: it relies on the page-table page not being freed under it. Native
 * x86 got that for free: munmap frees the page only after its flush IPIs
 * were handled, and an IPI waits for the walker's IRQs to come back on.
 * A paravirtual flush (Hyper-V's HvFlushVirtualAddressSpace hypercall, Xen,
 * KVM's PV flush) flushes remote TLBs without interrupting them, so the page
 * can be freed while a gup_fast on another CPU still walks it. The fix,
 * 9e52fc2b50de ("x86/mm: Enable RCU based page table freeing
 * (CONFIG_HAVE_RCU_TABLE_FREE=y)", 2017): tlb_remove_table frees page-table
 * pages after an RCU-sched grace period, which waits for IRQs-off sections;
 * tlb_remove_table_sync_one (an IPI round) is its fallback.
 */
import { array, bits, defineModel, enumOf, machine, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions, invpcid } from '../src/hw/index.js';
import {
  csdLockable, csdQueue, flushIpiFairness, flushTargets, gupFastBegin, localFlushFirst, gupFastEnd, gupFastFields,
  gupFastReadPmd, gupFastReadPte, maskNames, MM0, munmapSteps, munmapStepsFairness, phraseOf, readFlushInfo,
  syncFlushIpi, tableFreeFields, tableFreeReady, tableFreeRun, tableSyncIpi, tableSyncIpiDeliverable, unmapOpFields, world,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns } from '../properties/index.js';

export default defineModel({
  name: 'gup-pv-free',
  description: 'gup_fast walks page tables with IRQs off; a paravirtual flush does not wait for it, so page-table pages must be freed after an RCU grace period.',
  params: {
    N: { default: 2, min: 2, max: 4, doc: 'CPUs' },
    flush: { default: 'ipi', values: ['ipi', 'pv'], doc: 'remote flush: IPIs the initiator waits for (native), or a hypercall that flushes remote TLBs without interrupting them' },
    tableFree: { default: 'direct', values: ['direct', 'rcu', 'ipi-sync'], doc: 'how tlb_finish_mmu frees the page-table page (src/kernel/table-free.ts)' },
    gupSpins: { default: false, doc: 'BUG (progress): gup_fast that finds pmd_none spins with IRQs off for it to come back instead of falling back' },
  },
  build: (p) => {
    const w = world({ N: p.N, P: 1, OPS: 1 });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const how = p.tableFree;
    const state = {
      ...w.fields,
      ...unmapOpFields(sh, 1),
      ...tableFreeFields(sh),
      ...gupFastFields(sh),
      pc: array(CPU, enumOf(['user', 'zapped', 'local-flushed', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user' && s.gupStage[c] === 'idle';
    const targets = (s: View<S>, c: number) => flushTargets(s, c, readFlushInfo(s, c), { ipiLazyOnFreedTables: true });
    // The hypervisor drops the remote CPUs' non-global translations and paging-structure caches (as INVPCID type 3 would).
    const pvFlush = (s: View<S>, c: number) => {
      const m = targets(s, c);
      for (let t = 0; t < p.N; t++) if (bits.has(m, t)) invpcid(s, t, 3);
      return `PV flush hypercall: TLBs of ${maskNames(m, p.N)} flushed by the hypervisor, no IPI`;
    };
    return machine(state, {
      init: w.init,
      actions: {
        ...munmapSteps<S>({ CPU, PAGE, freeTables: true, userMode, tablesOf: w.tablesOf, irqsOnAtReturn: false, tableFree: how }),
        ...localFlushFirst<S>(CPU, k, w.tablesOf(MM0)),
        flush_tlb_multi: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'local-flushed' && (p.flush === 'pv' || csdLockable(s, c, bits.all(p.N))),
          effect: (s, c) => {
            if (p.flush === 'pv') pvFlush(s, c);
            else csdQueue(s, c, targets(s, c));
            s.pc[c] = 'waiting';
          },
          describe: (s, c) => (p.flush === 'pv' ? phraseOf(s, (x) => pvFlush(x, c)) : `flush_tlb_multi: send flush IPI → ${maskNames(targets(s, c), p.N)}, wait`),
        },
        ...(p.flush === 'ipi' ? syncFlushIpi<S>(CPU, k) : {}),
        ...(how === 'ipi-sync'
          ? {
              table_sync_ipi: {
                over: [CPU, CPU],
                guard: (s, o, c) => tableSyncIpiDeliverable(s, c, o),
                effect: (s, o, c) => tableSyncIpi(s, c, o),
                describe: (_s, _o, c) => `IPI from CPU${c}: tlb_remove_table_smp_sync (empty handler)`,
              },
            }
          : {}),
        ...(how !== 'direct'
          ? {
              table_free: {
                over: [CPU],
                guard: (s, c) => tableFreeReady(s, c),
                effect: (s, c) => void tableFreeRun(s, c),
                describe: (s, c) => `${how === 'rcu' ? 'RCU grace period over: tlb_remove_table_rcu' : 'every CPU took the sync IPI'}: ${phraseOf(s, (x) => tableFreeRun(x, c))}`,
              },
            }
          : {}),
        gup_fast_begin: { over: [CPU], guard: userMode, effect: (s, c) => void gupFastBegin(s, c), describe: (s, c) => phraseOf(s, (x) => gupFastBegin(x, c)) },
        gup_fast_pmd: {
          over: [CPU],
          guard: (s, c) => s.gupStage[c] === 'irqs-off' && !(p.gupSpins && s.pmd[MM0][0] < 0),
          effect: (s, c) => void gupFastReadPmd(s, c, MM0, 0),
          describe: (s, c) => phraseOf(s, (x) => gupFastReadPmd(x, c, MM0, 0)),
        },
        gup_fast_pte: {
          over: [CPU, PAGE],
          guard: (s, c) => s.gupStage[c] === 'pmd-read',
          effect: (s, c, va) => void gupFastReadPte(s, c, va),
          describe: (s, c, va) => phraseOf(s, (x) => gupFastReadPte(x, c, va)),
        },
        gup_fast_end: { over: [CPU], guard: (s, c) => s.gupStage[c] === 'done', effect: (s, c) => void gupFastEnd(s, c, how), describe: (s, c) => phraseOf(s, (x) => gupFastEnd(x, c, how)) },
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user') && s.tableQueued.every((t) => t < 0),
      liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'local-flushed' || s.pc[c] === 'waiting') },
      fairness: {
        ...munmapStepsFairness, flush_tlb_mm_range: 'weak', flush_tlb_multi: 'weak', gup_fast_pmd: 'weak', gup_fast_pte: 'weak', gup_fast_end: 'weak',
        ...(p.flush === 'ipi' ? flushIpiFairness : {}),
        ...(how === 'ipi-sync' ? { table_sync_ipi: 'strong' as const } : {}),
        ...(how !== 'direct' ? { table_free: 'weak' as const } : {}),
      },
    });
  },
  expect: [
    { params: {}, verdict: 'holds', note: 'native: the flush IPI waits for the walker to enable IRQs' },
    { params: { flush: 'pv' }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'the hypercall flush does not wait for gup_fast; the page is freed under it' },
    { params: { flush: 'pv', tableFree: 'rcu' }, verdict: 'holds', note: 'the fix: freed after an RCU-sched grace period' },
    { params: { flush: 'pv', tableFree: 'ipi-sync' }, verdict: 'holds', note: 'the fallback: tlb_remove_table_sync_one' },
    { params: { flush: 'pv', tableFree: 'rcu', N: 3 }, verdict: 'holds' },
    { params: {}, options: { liveness: true }, verdict: 'holds', note: 'every flush returns' },
    { params: { gupSpins: true }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(0)', note: 'the walker waits with IRQs off for the PMD the flush is removing' },
  ],
});
