/**
 * Two threads of one process madvise(MADV_DONTNEED) the same page at once
 * (mmap_lock held for read, so both zap in parallel). The first clears the
 * PTE and batches its flush for tlb_finish_mmu(); the second finds the PTE
 * already none, gathers nothing, flushes nothing and returns, while a TLB
 * (its own CPU's, or another thread's) still maps the old page. User space,
 * told the range now reads as zero-fill, reads or writes the old page
 * through that entry.
 *
 * Mainline since 99baac21e458 ("mm: fix MADV_[FREE|DONTNEED] TLB flush miss
 * problem", 2017): tlb_finish_mmu() checks mm_tlb_flush_nested() (another
 * zap of the mm in flight: tlb_flush_pending > 1) and then flushes the
 * whole mm (mm/mmu_gather.c). `nestedFlush: false` is the kernel before it.
 *
 * The flush is flush_tlb_mm_range as one step (the IPIs delivered at once):
 * the race is in which zap flushes, not in how IPIs interleave.
 */
import { array, defineModel, enumOf, int, machine, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions } from '../src/hw/index.js';
import { flushTlbMmRange, MM0, phraseOf, tlbFinishMmu, tlbGatherMmu, tlbZapPte, world, mmuGatherFields } from '../src/kernel/index.js';
import { coreProperties, eventuallyLeaves } from '../properties/index.js';

export default defineModel({
  name: 'madv-nested',
  description: 'Concurrent madvise(MADV_DONTNEED) of one page: the zap that finds pte_none must still flush when another zap of the mm is in flight (mm_tlb_flush_nested).',
  params: {
    N: { default: 2, min: 2, max: 4, doc: 'CPUs (threads of one process)' },
    OPS: { default: 2, min: 1, max: 3, doc: 'madvise(MADV_DONTNEED) calls' },
    nestedFlush: { default: true, doc: 'tlb_finish_mmu() flushes the whole mm when mm_tlb_flush_nested() (the fix); false = before 99baac21e458' },
    waitForNested: {
      default: false,
      doc: 'BUG (progress): instead of flushing, tlb_finish_mmu() waits until no other zap of the mm is in flight; two nested zaps wait for each other',
    },
  },
  build: (p) => {
    const w = world({ N: p.N, P: 1, OPS: p.OPS });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const state = {
      ...w.fields,
      ...mmuGatherFields(sh),
      opsLeft: int(0, p.OPS, { init: p.OPS }),
      /** Where each CPU's thread is in madvise: user mode, gather open, PTE zapped. */
      pc: array(CPU, enumOf(['user', 'gathering', 'zapped'])),
    };
    type S = typeof state;
    const finishOn = (s: View<S>, c: number) =>
      tlbFinishMmu(s, c, { nestedFlush: p.nestedFlush, tables: w.tablesOf(MM0), flush: (cc, f) => flushTlbMmRange(s, cc, f, k, w.tablesOf(MM0)) });
    return machine(state, {
      init: w.init,
      actions: {
        madvise: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'user' && s.opsLeft > 0,
          effect: (s, c) => {
            s.opsLeft--;
            tlbGatherMmu(s, c, MM0);
            s.pc[c] = 'gathering';
          },
          describe: (s) => `madvise(va0, MADV_DONTNEED): mmap_read_lock, tlb_gather_mmu (tlb_flush_pending ${s.tlbFlushPending[MM0]}→${s.tlbFlushPending[MM0] + 1})`,
        },
        zap: {
          over: [CPU, PAGE],
          guard: (s, c) => s.pc[c] === 'gathering',
          effect: (s, c, va) => {
            tlbZapPte(s, c, va);
            s.pc[c] = 'zapped';
          },
          describe: (s, c, va) => phraseOf(s, (x) => tlbZapPte(x, c, va)),
        },
        tlb_finish_mmu: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'zapped' && !(p.waitForNested && s.tlbFlushPending[MM0] > 1),
          effect: (s, c) => {
            finishOn(s, c);
            s.pc[c] = 'user';
          },
          describe: (s, c) => phraseOf(s, (x) => `${finishOn(x, c)}; madvise returns`),
        },
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user'),
      liveness: { 'madvise-returns': eventuallyLeaves<S>(CPU, 'the madvise() the thread called returns', (s, c) => s.pc[c] !== 'user') },
      fairness: { zap: 'weak', tlb_finish_mmu: 'weak' },
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { nestedFlush: false }, verdict: 'violated', invariant: 'no-stale-access', note: 'the zap that found pte_none returns before the other zap flushed: user space reads the old page' },
    { params: { nestedFlush: false, N: 3 }, verdict: 'violated', invariant: 'no-stale-access' },
    { params: { N: 3 }, options: { liveness: true }, verdict: 'holds', note: 'every madvise returns' },
    { params: { waitForNested: true, nestedFlush: false }, options: { liveness: true }, verdict: 'violated', invariant: 'madvise-returns(0)', note: 'two nested zaps wait for each other' },
  ],
});
