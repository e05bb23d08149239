/**
 * Lazy TLB mode (arch/x86/mm/tlb.c: enter_lazy_tlb(), should_flush_tlb(),
 * native_flush_tlb_multi(), switch_mm_irqs_off()). A CPU that switches from
 * a task of mm0 to a kernel thread keeps mm0's CR3 loaded (and so its
 * paging-structure caches and speculative walks) and only sets is_lazy. The
 * initiator's should_flush_tlb() skips lazy CPUs; they catch up on their next
 * switch_mm_irqs_off() back to mm0 by comparing ctxs[asid].tlb_gen with
 * mm->tlb_gen, or, if IPI'd anyway, flush_tlb_func() switches them to init_mm.
 * Skipping them is unsafe when page-table pages are freed: the lazy CPU may
 * still walk through its cached PMD into the freed page. Mainline therefore
 * IPIs every CPU of mm_cpumask when freed_tables (`ipiLazyOnFreedTables`).
 * Flush flow as in models/concurrent.ts (the mainline order).
 *
 * With x86-TSO store buffers (`tso`), leaving lazy mode is a store-buffer
 * (Dekker) pattern against the initiator: the switching CPU stores
 * is_lazy=false and then reads mm->tlb_gen; the initiator bumps tlb_gen
 * (LOCK XADD) and then reads is_lazy in should_flush_tlb(). Mainline's smp_mb()
 * between the two ("The barrier synchronizes with the tlb_gen increment in the
 * TLB shootdown code", tlb.c) keeps both from reading the old value; without
 * it (`leaveLazyMb=false`) the CPU keeps its stale TLB (old tlb_gen, no
 * flush) while the initiator still sees it lazy and skips it.
 *
 * `preGen` is the kernel before tlb_gen (4.13 and older): flush_tlb_mm_range
 * flushes locally first, then IPIs every other CPU of mm_cpumask, lazy ones
 * included; a lazy target leaves the mm (leave_mm: off the mask, onto
 * init_mm) and reloads CR3 when it switches back. Nothing is skipped, so
 * freed page tables are safe without a generation compare.
 */
import { array, bits, defineModel, enumOf, machine, NONE, type ActionDef, type View } from '../src/index.js';
import { defaultHwOptions, describeStoreBuffer, hardwareActions, hwParams, sbLength, tsoParams, type HwOptions } from '../src/hw/index.js';
import {
  csdLockable,
  describeFlushInfo,
  flushTargets,
  incMmTlbGen,
  maskNames,
  MM0,
  enterLazyTlb,
  ownLoadedMm,
  switchMmIrqsOff,
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
  localFlushFirst,
  preGenFlushTargets,
  csdQueue,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns } from '../properties/index.js';

export default defineModel({
  name: 'lazy',
  description: 'Lazy-TLB CPUs are skipped by the flush IPIs and catch up through tlb_gen on their next switch_mm; unsafe with freed page tables unless lazy CPUs are IPI\'d too.',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs' },
    P: { default: 1, min: 1, max: 3, doc: 'user pages' },
    OPS: { default: 1, min: 1, max: 3, doc: 'munmap operations (each one flush_tlb_mm_range)' },
    nmiUaccess: { default: false, doc: 'NMI handlers may read user memory (copy_from_user_nmi) when nmi_uaccess_okay()' },
    freeTables: { default: true, doc: 'munmap frees the emptied page-table page after the flush (freed_tables)' },
    waitIrqsOff: { default: false, doc: 'BUG: the initiator waits for the CSDs with IRQs disabled' },
    ipiLazyOnFreedTables: { default: true, doc: 'native_flush_tlb_multi: with freed_tables IPI lazy CPUs too (mainline); false = skip them' },
    preGen: {
      default: false,
      doc: '4.13 and older: no tlb_gen; a local flush, then IPIs to every other CPU of mm_cpumask; a lazy target leaves the mm (leave_mm)',
    },
    leaveLazyMb: {
      default: true,
      doc: 'switch_mm_irqs_off leaving lazy mode: smp_mb() between is_lazy=false and the tlb_gen read (mainline; matters only with tso)',
    },
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
      pc: array(CPU, enumOf(['user', 'kthread', 'zapped', 'ipis-sent', 'local-flushed', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user' && ownLoadedMm(s, c) === MM0;
    const sw = { leaveLazyMb: p.leaveLazyMb, preGen: p.preGen };
    const idle = (s: View<S>) => {
      for (let c = 0; c < p.N; c++) if ((s.pc[c] !== 'user' && s.pc[c] !== 'kthread') || s.csd[c].includes('queued')) return false;
      return true;
    };
    const lazyOpt = { ipiLazyOnFreedTables: p.ipiLazyOnFreedTables };
    // The mainline order: IPIs first, then the local flush and the wait.
    const mainlineFlush: Record<string, ActionDef<S>> = {
      flush_tlb_mm_range: {
        over: [CPU],
        guard: (s, c) => s.pc[c] === 'zapped' && csdLockable(s, c, bits.all(p.N)),
        effect: (s, c) => {
          sendFlushIpisFirst(s, c, { ...lazyOpt, tables: w.tablesOf(MM0) });
        },
        describe: (s, c) =>
          phraseOf(s, (x) => {
            const f = munmapFlushInfo(x, MM0, c);
            incMmTlbGen(x, MM0);
            const t = flushTargets(x, c, f, lazyOpt);
            const skipped = [...Array(p.N).keys()].filter((o) => o !== c && x.isLazy[o] && !bits.has(t, o)).map((o) => `CPU${o}`);
            const why = skipped.length ? ` (is_lazy=1 read for ${skipped.join(',')}: skipped)` : '';
            return `flush_tlb_mm_range(${describeFlushInfo(f)}): lock CSD, send flush IPI → ${maskNames(t, p.N)}${why}`;
          }),
      },
      ...localFlushThenWait<S>(CPU, k, { waitIrqsOff: p.waitIrqsOff }),
    };
    // Before tlb_gen: the local flush, then IPIs to the rest of mm_cpumask and the wait.
    const preGenFlush: Record<string, ActionDef<S>> = {
      ...localFlushFirst<S>(CPU, k, w.tablesOf(MM0), { preGen: true }),
      flush_tlb_others: {
        over: [CPU],
        guard: (s, c) => s.pc[c] === 'local-flushed' && csdLockable(s, c, bits.all(p.N)),
        effect: (s, c) => {
          csdQueue(s, c, preGenFlushTargets(s, c, MM0));
          if (p.waitIrqsOff) s.irqOff[c] = true;
          s.pc[c] = 'waiting';
        },
        describe: (s, c) => `flush_tlb_others: lock CSD, send flush IPI → ${maskNames(preGenFlushTargets(s, c, MM0), p.N)}; wait for CSDs${p.waitIrqsOff ? ' (IRQs OFF)' : ''}`,
      },
    };
    return machine(state, {
      init: w.init,
      actions: {
        // ---------------------------------------------------------- initiator
        ...munmapSteps<S>({ CPU, PAGE, freeTables: p.freeTables, userMode, tablesOf: w.tablesOf, irqsOnAtReturn: p.waitIrqsOff }),
        ...(p.preGen ? preGenFlush : mainlineFlush),
        // ------------------------------------------------------------ scheduler
        schedule_kthread: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'user',
          effect: (s, c) => {
            enterLazyTlb(s, c, k);
            s.pc[c] = 'kthread';
          },
          describe: (s) => `schedule → kernel thread: enter_lazy_tlb (CR3 stays mm0, is_lazy=1${p.tso ? ', a buffered store' : ''})`,
        },
        schedule_user: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'kthread',
          effect: (s, c) => {
            switchMmIrqsOff(s, c, MM0, k, sw);
            s.pc[c] = 'user';
          },
          describe: (s, c) =>
            phraseOf(s, (x) => {
              const r = switchMmIrqsOff(x, c, MM0, k, sw);
              return `schedule → task of mm0: ${r}${sbLength(x, c) > 0 ? `; store buffer ${describeStoreBuffer(x, c)}` : ''}`;
            }),
        },
        // ------------------------------------------------------------ targets
        ...syncFlushIpi<S>(CPU, k, { preGen: p.preGen }),
        // --------------------------------------------------- hardware, users
        ...hardwareActions<S>(sh, o, {
          userMode: (s, c) => userMode(s, c),
          nmiUaccess: p.nmiUaccess ? (s, c) => nmiUaccessOkay(s, c, s.pc[c] === 'kthread' ? NONE : MM0) : undefined,
        }),
      },
      invariants: coreProperties<S>(),
      endState: idle,
      liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'ipis-sent' || s.pc[c] === 'local-flushed' || s.pc[c] === 'waiting') },
      // The kernel's steps weakly fair, IPI delivery strongly fair; the scheduler's choices are not fair (a CPU may stay lazy forever).
      fairness: { ...munmapStepsFairness, ...flushIpiFairness, flush_tlb_mm_range: 'weak', ...(p.preGen ? { flush_tlb_others: 'weak' } : { local_flush: 'weak' }) },
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { ipiLazyOnFreedTables: true, N: 3 }, verdict: 'holds' },
    { params: { ipiLazyOnFreedTables: false }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'lazy CPU walks its cached PMD into the freed page-table page' },
    { params: { ipiLazyOnFreedTables: false, freeTables: false }, verdict: 'holds', note: 'skipping lazy CPUs is fine when no tables are freed' },
    { params: { tso: 1, freeTables: false }, verdict: 'holds', note: 'x86-TSO store buffers: the smp_mb() orders is_lazy=0 before the tlb_gen read' },
    { params: { tso: 1, freeTables: false, leaveLazyMb: false }, verdict: 'violated', invariant: 'no-stale-access', note: 'is_lazy=0 still buffered when the initiator reads it; the CPU read the old tlb_gen and kept its TLB' },
    { params: { freeTables: false, leaveLazyMb: false }, verdict: 'holds', note: 'without store buffers the smp_mb() is not needed' },
    { params: { ipiLazyOnFreedTables: true, N: 3 }, options: { liveness: true }, verdict: 'holds', note: 'every flush returns, lazy CPUs or not' },
    { params: { preGen: true }, verdict: 'holds', note: 'before tlb_gen: lazy CPUs are IPI\'d and leave the mm' },
    { params: { preGen: true, N: 3 }, verdict: 'holds' },
    { params: { preGen: true, N: 3 }, options: { liveness: true }, verdict: 'holds' },
    { params: { preGen: true, waitIrqsOff: true, P: 2, OPS: 2 }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(0)', note: 'the same IRQs-off wait, before tlb_gen' },
    { params: { waitIrqsOff: true, P: 2, OPS: 2 }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(0)', note: 'two initiators wait for each other with IRQs off' },
  ],
});
