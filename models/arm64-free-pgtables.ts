/**
 * arm64 munmap with page-table freeing: the mmu_gather flush must invalidate
 * the walk cache, and complete, before the table is freed
 * (arch/arm64/include/asm/tlb.h tlb_flush(): `last_level =
 * !tlb->freed_tables`; asm/tlbflush.h __flush_tlb_range(): dsb(ishst),
 * TLBIs, dsb(ish)). munmap(va0..va1) zaps both PTEs and free_pgtables()
 * frees their page table; tlb_flush() then issues TLBI VAE1IS for the range
 * (one TLBI RVAE1IS with FEAT_TLBIRANGE), which also drops every PE's cached
 * walk entries for those addresses, and DSB ISH waits until every PE has
 * done it. Only then are the page and the table freed.
 *
 * Two ways to get it wrong, each a bug toggle:
 *   leafOnlyAlways  TLBI VALE1IS although tables were freed: the walk cache
 *                   keeps the table, and a speculative walk reads it after
 *                   the free (what `last_level = !freed_tables` prevents);
 *   dsb: false      no DSB ISH before the free: another PE may not have done
 *                   the TLBI yet (a caller of a _nosync flush that forgets
 *                   the DSB).
 *
 *   CPU0 (munmap)                        CPU1 (a thread of the process)
 *                                        speculative walk va1: the walk
 *                                        cache holds the table
 *   zap va0, va1; free_pgtables
 *   tlb_flush: TLBI RVALE1IS va0..va1
 *                                        TLBI done here: leaves dropped,
 *                                        walk cache kept
 *   DSB ISH; free pfn0, pfn1, the table
 *                                        speculative walk va1 via the cached
 *                                        table: reads the FREED page
 */
import { array, defineModel, enumOf, machine, pcSteps, type View } from '../src/index.js';
import { defaultHwOptions, dsbIshDone, hardwareActions, tlbiArriveAction, tlbiFields } from '../src/hw/index.js';
import * as K from '../src/kernel/index.js';
import { coreProperties } from '../properties/index.js';

export default defineModel({
  name: 'arm64-free-pgtables',
  description: 'arm64 tlb_flush after free_pgtables: TLBI VAE1IS (not VALE1IS) so the walk cache goes too, and DSB ISH before the table is freed.',
  params: {
    N: { default: 2, min: 2, max: 3, doc: 'PEs (threads of one process; one calls munmap)' },
    rangeSupported: { default: true, doc: 'hw: FEAT_TLBIRANGE (one TLBI RVAE1IS for the range; false = one TLBI VAE1IS per page)' },
    leafOnlyAlways: { default: false, doc: 'BUG: last-level TLBIs (VALE1IS) although page tables were freed' },
    dsb: { default: true, doc: 'DSB ISH before the pages and the table are freed; false = BUG: freed while TLBIs are still in flight' },
  },
  build: (p) => {
    const w = K.world({ N: p.N, P: 2, OPS: 1 });
    const { CPU, hwShape: sh } = w;
    const tables = w.tablesOf(K.MM0);
    const state = {
      ...w.fields,
      ...K.mmuGatherFields(sh),
      ...tlbiFields(sh),
      pc: array(CPU, enumOf(['user', 'gathered', 'zapped0', 'zapped1', 'freed-pt', 'tlbi-sent'])),
      munmap: enumOf(['todo', 'done']),
    };
    type S = typeof state;
    const step = pcSteps<S>(CPU);
    const finish = (s: View<S>, c: number) => {
      K.flushStartedAndReturned(s, c, K.gatheredFlush(s, c), tables); // every PE has done the TLBIs: the range is flushed
      const done = K.tlbFinishMmu(s, c, { nestedFlush: false, tables, flush: () => 'TLBIs complete' });
      return `${p.dsb ? 'dsb(ish): every PE has done the TLBIs' : 'no dsb(ish)'}; ${done}; munmap returns`;
    };
    return machine(state, {
      init: w.init,
      actions: {
        munmap: step('user', 'gathered', (s, c) => {
          s.munmap = 'done';
          K.tlbGatherMmu(s, c, K.MM0);
          return 'munmap(va0..va1): tlb_gather_mmu';
        }, (s) => s.munmap === 'todo'),
        zap0: step('gathered', 'zapped0', (s, c) => `unmap_vmas: ${K.tlbZapPte(s, c, 0)}`),
        zap1: step('zapped0', 'zapped1', (s, c) => `unmap_vmas: ${K.tlbZapPte(s, c, 1)}`),
        free_pgtables: step('zapped1', 'freed-pt', (s, c) => `free_pgtables: ${K.pteFreeTlb(s, c, 0, { rangeCoversTable: true })}`),
        tlb_flush: step('freed-pt', 'tlbi-sent', (s, c) =>
          K.arm64TlbFlushIssue(s, c, K.gatheredFlush(s, c), { asid: 0, rangeSupported: p.rangeSupported, leafOnlyAlways: p.leafOnlyAlways }),
        ),
        tlb_finish_mmu: step('tlbi-sent', 'user', finish, (s, c) => !p.dsb || dsbIshDone(s, c)),
        tlbi_arrives: tlbiArriveAction<S>(sh),
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { rangeSupported: false }, verdict: 'holds', note: 'one TLBI VAE1IS per page' },
    { params: { leafOnlyAlways: true }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'VALE1IS keeps the walk cache of the freed table' },
    { params: { dsb: false }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'freed before every PE has done the TLBI' },
    { params: { leafOnlyAlways: true, rangeSupported: false }, verdict: 'violated', invariant: 'no-freed-table-walk' },
  ],
});
