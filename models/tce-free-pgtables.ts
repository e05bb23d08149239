/**
 * Freeing page tables on AMD with EFER.TCE (Translation Cache Extension),
 * which Linux turns on since the 2025 INVLPGB series. Without TCE, an INVLPG
 * of any address drops every paging-structure-cache (PSC) entry of the
 * PCID; with it, only the entries that lead to that address (AMD APM
 * Vol. 2, EFER.TCE). A flush then reaches a freed page table only if its
 * range covers an address under that table.
 *
 * munmap(va0..va1) here zaps va0 (va1's PTE is already none, e.g. after an
 * earlier MADV_DONTNEED) and free_pgtables() frees both page-table pages:
 * PT page 0 under PMD slot 0 (va0) and PT page 1 under slot 1 (va1). Mainline
 * pte_free_tlb() adds each freed table's address to the gathered range
 * (tlb_flush_pmd_range), so the flush covers va0..va1. A gather that did not
 * (`rangeCoversTable: false`) flushes only va0. On Intel that is still safe,
 * because INVLPG va0 drops every PSC entry. With TCE a CPU that cached the
 * PMD of va1 keeps it, and walks through it into the freed page. Any CPU of
 * the mask will do, the munmapping one included (its own INVLPG va0 keeps
 * the entry too), which is the shortest trace:
 *
 *   CPU0 (munmap)
 *   tlb_gather_mmu; zap va0
 *   free_pgtables: pmd_clear PMD slot 0, pte_free_tlb (range: va0)
 *   (speculative walk va1: the PSC caches PMD slot 1 → PT page 1)
 *   free_pgtables: pmd_clear PMD slot 1, pte_free_tlb (range: va0)
 *   tlb_finish_mmu: flush va0 on every CPU (INVLPG va0 keeps the slot 1
 *     entries); free PT pages 0 and 1
 *   (speculative walk va1 via the cached PMD: reads the FREED PT page 1)
 *
 * Each PMD covers one page here. In the kernel free_pgd_range() starts the
 * freed range at the PMD's base, so with 2 MB PMDs the fixed range is often
 * over tlb_single_page_flush_ceiling and becomes a full flush; either way
 * the flush reaches the freed table's cached PMD, which is what is checked.
 *
 * The flush is flush_tlb_mm_range as one step (freed_tables: every CPU of the
 * mask flushes). The tables are freed right after it (x86 batches them for
 * RCU, which does not stop a hardware walker either).
 */
import { array, defineModel, enumOf, machine, pcSteps, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions } from '../src/hw/index.js';
import * as K from '../src/kernel/index.js';
import { coreProperties } from '../properties/index.js';

export default defineModel({
  name: 'tce-free-pgtables',
  description: 'With AMD EFER.TCE, INVLPG keeps the PSC entries of other PMDs: the flush after free_pgtables must cover each freed table (pte_free_tlb extends the range).',
  params: {
    N: { default: 2, min: 2, max: 3, doc: 'CPUs (threads of one process; one calls munmap)' },
    tce: { default: true, doc: 'hw: EFER.TCE on every CPU (AMD, Linux since the INVLPGB series); false = Intel INVLPG semantics' },
    rangeCoversTable: { default: true, doc: "pte_free_tlb() adds the freed table's address to the gathered range (mainline); false = the range is only what was zapped" },
  },
  build: (p) => {
    const w = K.world({ N: p.N, P: 2, OPS: 1, pmds: 2, tce: p.tce, maps: (_mm, va) => va === 0 });
    const { CPU, hwShape: sh, k } = w;
    const tables = w.tablesOf(K.MM0);
    const state = {
      ...w.fields,
      ...K.mmuGatherFields(sh),
      pc: array(CPU, enumOf(['user', 'gathered', 'zapped', 'freed-pt0', 'freed-pt1'])),
      munmap: enumOf(['todo', 'done']),
    };
    type S = typeof state;
    const step = pcSteps<S>(CPU);
    const freeTable = (slot: number) => (s: View<S>, c: number) => `free_pgtables: ${K.pteFreeTlb(s, c, slot, { rangeCoversTable: p.rangeCoversTable })}`;
    const finish = (s: View<S>, c: number) =>
      `${K.tlbFinishMmu(s, c, { nestedFlush: true, tables, flush: (cc, f) => K.flushTlbMmRange(s, cc, f, k, tables) })}; munmap returns`;
    return machine(state, {
      init: w.init,
      actions: {
        munmap: step('user', 'gathered', (s, c) => {
          s.munmap = 'done';
          K.tlbGatherMmu(s, c, K.MM0);
          return 'munmap(va0..va1): tlb_gather_mmu';
        }, (s) => s.munmap === 'todo'),
        zap: step('gathered', 'zapped', (s, c) => `unmap_vmas: ${K.tlbZapPte(s, c, 0)}; va1: pte_none`),
        free_pt0: step('zapped', 'freed-pt0', freeTable(0)),
        free_pt1: step('freed-pt0', 'freed-pt1', freeTable(1)),
        tlb_finish_mmu: step('freed-pt1', 'user', finish),
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { rangeCoversTable: false }, verdict: 'violated', invariant: 'no-freed-table-walk', note: "INVLPG va0 keeps CPU1's cached PMD for va1 (TCE); it walks into the freed PT page 1" },
    { params: { rangeCoversTable: false, N: 3 }, verdict: 'violated', invariant: 'no-freed-table-walk' },
    { params: { rangeCoversTable: false, tce: false }, verdict: 'holds', note: 'Intel INVLPG drops every PSC entry of the PCID: the short range is enough' },
    { params: { tce: false, N: 3 }, verdict: 'holds' },
  ],
});
