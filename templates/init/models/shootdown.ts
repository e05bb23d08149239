/**
 * A TLB shootdown, as munmap() does it on x86 Linux (arch/x86/mm/tlb.c):
 *
 *   CPU0 (munmap)                              CPU1 (runs the same mm)
 *   zap the PTE (ptep_get_and_clear)
 *   flush_tlb_mm_range: tlb_gen++, local flush
 *   send the flush IPI, wait for csd_unlock     IPI: flush_tlb_func, csd_unlock
 *   free the page (tlb_finish_mmu)
 *
 * tlbcheck explores every interleaving of these steps with the hardware's
 * own: user accesses, speculative page walks, TLB evictions, A/D updates.
 * `remoteFlush: false` is the classic bug of flushing only the local TLB:
 * the other CPU keeps using its cached translation of a page that was unmapped and
 * freed. Run `npx tlbcheck models/shootdown.ts --set remoteFlush=false` to
 * see the race, `npx tlbcheck ci` to check the expect block below.
 */
import { array, bits, defineModel, enumOf, machine, type View } from 'tlbcheck';
import { defaultHwOptions, hardwareActions } from 'tlbcheck/hw';
import {
  csdLockable,
  csdQueue,
  describeFlushInfo,
  flushStarted,
  flushTargets,
  flushTlbFunc,
  incMmTlbGen,
  maskNames,
  MM0,
  munmapFlushInfo,
  munmapSteps,
  phraseOf,
  readFlushInfo,
  syncFlushIpi,
  unmapOpFields,
  world,
  writeFlushInfo,
} from 'tlbcheck/kernel';
import { coreProperties } from 'tlbcheck/properties';

export default defineModel({
  name: 'shootdown',
  description: 'munmap: zap the PTE, flush locally, IPI the other CPUs and wait for them, then free the page.',
  params: {
    N: { default: 2, min: 2, max: 3, doc: 'CPUs' },
    remoteFlush: { default: true, doc: 'send flush IPIs to the other CPUs in mm_cpumask (false: flush only the local TLB)' },
  },
  build: (p) => {
    // One process (mm0) on N CPUs, one user page, one munmap.
    const w = world({ N: p.N, P: 1, OPS: 1 });
    const { CPU, PAGE, hwShape, k } = w;
    const state = {
      ...w.fields,
      ...unmapOpFields(hwShape, 1),
      /** Where each CPU's task is in munmap → flush_tlb_mm_range → tlb_finish_mmu. */
      pc: array(CPU, enumOf(['user', 'zapped', 'local-flushed', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user';
    const targets = (s: View<S>, c: number) =>
      p.remoteFlush ? flushTargets(s, c, readFlushInfo(s, c), { ipiLazyOnFreedTables: true }) : 0;
    return machine(state, {
      init: w.init,
      actions: {
        // munmap (zap the PTE), flush_returns and tlb_finish_mmu (free the page)
        ...munmapSteps<S>({ CPU, PAGE, freeTables: false, userMode, tablesOf: w.tablesOf, irqsOnAtReturn: true }),
        flush_tlb_mm_range: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'zapped',
          effect: (s, c) => {
            const f = munmapFlushInfo(s, MM0, c);
            incMmTlbGen(s, MM0, c);
            flushStarted(s, c, f, w.tablesOf(MM0));
            writeFlushInfo(s, c, f);
            flushTlbFunc(s, c, f, k);
            s.pc[c] = 'local-flushed';
          },
          describe: (s, c) =>
            phraseOf(s, (x) => {
              const f = munmapFlushInfo(x, MM0, c);
              incMmTlbGen(x, MM0);
              return `flush_tlb_mm_range(${describeFlushInfo(f)}): local ${flushTlbFunc(x, c, f, k)}`;
            }),
        },
        flush_tlb_multi: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'local-flushed' && csdLockable(s, c, bits.all(p.N)),
          effect: (s, c) => {
            csdQueue(s, c, targets(s, c));
            s.pc[c] = 'waiting';
          },
          describe: (s, c) => `flush_tlb_multi: send flush IPI → ${maskNames(targets(s, c), p.N)}, wait`,
        },
        // the other CPUs: flush_tlb_func() in the IPI handler, then csd_unlock()
        ...syncFlushIpi<S>(CPU, k),
        // user accesses, speculative walks, TLB evictions
        ...hardwareActions<S>(hwShape, defaultHwOptions, { userMode }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((pc) => pc === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { remoteFlush: false }, verdict: 'violated', invariant: 'no-stale-access', note: 'the other CPU reads the page through its stale TLB entry after the flush returned' },
  ],
});
