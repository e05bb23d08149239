/**
 * khugepaged retracting a page table, with IPIs and with AMD INVLPGB
 * (3ef938c3, "x86/mm: Fix flush_tlb_range() when used for zapping normal
 * PMDs", Jann Horn, 2025; Fixes: 016c4d92cd16). collapse_pte_mapped_thp()
 * detaches a PTE table with pmdp_collapse_flush() — pmdp_huge_get_and_clear(),
 * then flush_tlb_range() over the PMD's range ("collapse entails shooting
 * down ptes not pmd") — and frees the table (pte_free_defer). Before the fix
 * x86's flush_tlb_range() passed freed_tables=false, so the IPI flush
 * skipped lazy CPUs, which keep the mm's CR3 and so its cached PMD:
 *
 *   CPU0 (khugepaged)                  CPU2 (kernel thread, lazy on the mm)
 *                                      speculative walk: PSC caches the PMD
 *   pmdp_collapse_flush: PMD cleared;
 *   flush_tlb_range: IPIs skip CPU2
 *   pte_free_defer: the table freed
 *                                      speculative walk via the cached PMD:
 *                                      reads the FREED page table
 *
 * Mainline's INVLPGB broadcast (a global ASID) never sets FINAL_ONLY, so it
 * drops the cached PMDs whatever freed_tables says. The fix's message names
 * the proposal that would have: "x86/mm: only invalidate final translations
 * with INVLPGB" (FINAL_ONLY unless freed_tables; v11-v13 of the series, not
 * merged), which "would probably be making the impact of this a lot worse".
 * `finalOnly: 'unlessFreedTables'` is that proposal: with the old
 * flush_tlb_range every CPU keeps the cached PMD. TLBSYNC only waits for the
 * issuing CPU's broadcasts (`tlbsyncOnIssuer: false` is the task migrating
 * in between, which __tlbsync()'s cant_migrate() forbids). The collapsed
 * huge PMD, and the old pages' copy and free, are not modelled.
 */
import { array, defineModel, enumOf, machine, pcStep, type PcOf, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions, invlpgbArriveAction, invlpgbFields } from '../src/hw/index.js';
import * as K from '../src/kernel/index.js';
import { coreProperties } from '../properties/index.js';

const KHUGEPAGED = 0;

export default defineModel({
  name: 'invlpgb-collapse',
  description: "khugepaged's pmdp_collapse_flush must pass freed_tables, or lazy CPUs (and, with FINAL_ONLY INVLPGB, every CPU) keep the PMD of the freed page table (3ef938c3).",
  params: {
    N: { default: 2, min: 2, max: 3, doc: 'CPUs: CPU0 runs khugepaged, the others threads of the process' },
    flush: { default: 'invlpgb', values: ['invlpgb', 'ipi'], doc: 'how flush_tlb_range reaches the other CPUs: INVLPGB broadcast (a global ASID) or IPIs' },
    freedTables: { default: true, doc: 'flush_tlb_range passes freed_tables=true (the fix); false = before 3ef938c3' },
    finalOnly: { default: 'never', values: ['never', 'unlessFreedTables'], doc: "INVLPGB_FINAL_ONLY: never (mainline), or unless freed_tables (the unmerged 'only invalidate final translations' proposal)" },
    lazy: { default: false, doc: 'the last CPU is a kernel thread lazy on the process\'s mm' },
    tlbsyncOnIssuer: { default: true, doc: 'TLBSYNC runs on the CPU that issued the INVLPGB; false = the task migrated in between' },
  },
  build: (p) => {
    const last = p.N - 1;
    const w = K.world({ N: p.N, P: 2, OPS: 1, start: (c) => (c === KHUGEPAGED ? 'init_mm' : { mm: K.MM0, lazy: p.lazy && c === last }) });
    const { CPU, hwShape: sh, k } = w;
    const tables = w.tablesOf(K.MM0);
    const state = {
      ...w.fields,
      ...invlpgbFields(sh),
      pc: array(CPU, enumOf(['user', 'khugepaged', 'flushing', 'flushed', 'done'])),
    };
    type S = typeof state;
    const range = { mm: K.MM0, va: 0, vaEnd: 2, freedTables: p.freedTables };
    const collapse = (s: View<S>, c: number) => {
      const t = K.pmdClear(s, K.MM0, c);
      const f = p.flush === 'ipi' ? K.flushTlbMmRange(s, c, range, k, tables) : K.broadcastTlbFlushIssue(s, c, range, { pcid: 0, finalOnly: p.finalOnly });
      return `collapse_pte_mapped_thp: pmdp_collapse_flush: PMD cleared (PT page ${t}); flush_tlb_range: ${f}`;
    };
    return machine(state, {
      init: (s) => {
        w.init(s);
        s.pc[KHUGEPAGED] = 'khugepaged';
        // The PTEs map the subpages of a huge folio already in the page cache (collapse_file made it, dirty):
        // a D bit set in the detached table is not what keeps the data.
        s.pageDirty.fill(true);
      },
      actions: {
        collapse: pcStep<S>(CPU, 'khugepaged', () => (p.flush === 'ipi' ? 'flushed' : 'flushing'), collapse),
        ...(p.flush === 'invlpgb'
          ? {
              tlbsync: pcStep<S>(CPU, 'flushing', 'flushed', (s, c) => (p.tlbsyncOnIssuer ? K.broadcastTlbSync(s, c) : 'TLBSYNC on another CPU (the task migrated): nothing of its own to wait for'), {
                when: (s, c) => !p.tlbsyncOnIssuer || K.broadcastTlbSyncDone(s, c),
              }),
              invlpgb_arrives: invlpgbArriveAction<S>(sh),
            }
          : {}),
        free_table: pcStep<S>(CPU, 'flushed', 'done', (s) => {
          K.freeTable(s, tables[0] ?? 0);
          return `pte_free_defer: PT page ${tables[0]} freed (an RCU grace period does not stop a hardware walker)`;
        }),
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' && !s.isLazy[c] }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc[KHUGEPAGED] === 'done',
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { lazy: true, N: 3 }, verdict: 'holds', note: 'the broadcast reaches lazy CPUs too' },
    { params: { freedTables: false }, verdict: 'holds', note: 'mainline INVLPGB drops the cached PMDs whatever freed_tables says' },
    { params: { freedTables: false, finalOnly: 'unlessFreedTables' }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'with the unmerged FINAL_ONLY proposal every CPU keeps the cached PMD of the freed table' },
    { params: { finalOnly: 'unlessFreedTables', N: 3 }, verdict: 'holds', note: 'with the fix the proposal is safe on this path' },
    { params: { tlbsyncOnIssuer: false }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'the table is freed before the broadcast reached every CPU' },
    { params: { flush: 'ipi', freedTables: false }, verdict: 'holds', note: 'INVLPG in the IPI handler drops every cached PMD of the PCID' },
    { params: { flush: 'ipi', freedTables: false, lazy: true }, verdict: 'violated', invariant: 'no-freed-table-walk', note: 'the bug 3ef938c3 fixed: should_flush_tlb skips the lazy CPU' },
    { params: { flush: 'ipi', lazy: true, N: 3 }, verdict: 'holds' },
  ],
});
