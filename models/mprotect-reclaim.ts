/**
 * mprotect() against page reclaim's batched TLB flush (3ea277194daa, "mm,
 * mprotect: flush TLB if potentially racing with a parallel reclaim leaving
 * stale TLB entries", 2017; the race Nadav Amit described):
 *
 *   CPU0                                  CPU1 (kswapd)
 *   user writes va0 (RW entry cached)
 *                                         try_to_unmap_one: ptep_get_and_clear,
 *                                         set_tlb_ubc_flush_pending (no flush yet)
 *   mprotect(va0, PROT_READ):
 *     change_pte_range: PTE not present,
 *     nothing changed, no flush; returns
 *   user writes va0 through the RW entry
 *                                         try_to_unmap_flush
 *
 * The fix: change_pte_range() (and munmap, mremap, madvise) first calls
 * flush_tlb_batched_pending(mm), which flushes the mm if a reclaim left a
 * batched flush of it pending (`batchedPending`).
 *
 * The promise mprotect(PROT_READ) makes is narrower than a flush's: old
 * entries may still be read, but not written through
 * (no-wider-permission). The hardware option dirtySetRechecksPte=false (not
 * x86: Intel and AMD re-check the PTE when they set D) shows why the batch
 * relies on that re-check: a write through a clean entry would set D in the
 * PTE reclaim has already cleared, and the write would be lost
 * (no-dirty-after-harvest, no-lost-dirty). That row does not involve
 * mprotect or the fix.
 */
import { array, defineModel, enumOf, machine, type View } from '../src/index.js';
import { accessGhostFields, defaultHwOptions, hardwareActions, hwParams, type HwOptions } from '../src/hw/index.js';
import {
  changePteRange,
  flushTlbBatchedPending,
  flushTlbMmRange,
  freeFrame,
  MM0,
  permissionNarrowed,
  phraseOf,
  ptepGetAndClear,
  setTlbUbcFlushPending,
  tlbBatchFields,
  tryToUnmapFlush,
  world,
} from '../src/kernel/index.js';
import { coreProperties, noDirtyAfterHarvest, noWiderPermission } from '../properties/index.js';

const VA = 0;

export default defineModel({
  name: 'mprotect-reclaim',
  description: "mprotect(PROT_READ) must flush a reclaim's batched TLB flush that is still pending (flush_tlb_batched_pending, 3ea277194daa).",
  params: {
    N: { default: 2, min: 2, max: 4, doc: 'CPUs (threads of one process; any of them may run kswapd)' },
    batchedPending: { default: true, doc: 'change_pte_range() calls flush_tlb_batched_pending() first (the fix); false = before 3ea277194daa' },
    ...hwParams,
  },
  build: (p) => {
    // PTE versions: reclaim's clear and mprotect's write-protect.
    const w = world({ N: p.N, P: 1, OPS: 2 });
    const { CPU, hwShape: sh, k } = w;
    const tables = w.tablesOf(MM0);
    const o: HwOptions = { ...defaultHwOptions, dirtySetRechecksPte: p.dirtySetRechecksPte, dirtySetOnFaultingWrite: p.dirtySetOnFaultingWrite };
    const state = {
      ...w.fields,
      ...accessGhostFields(sh),
      ...tlbBatchFields(sh, k),
      /** Each CPU: its thread in user mode, kswapd between unmapping va0 and the batched flush, or done with mprotect. */
      pc: array(CPU, enumOf(['user', 'reclaiming'])),
      reclaim: enumOf(['todo', 'unmapped', 'done']),
      mprotect: enumOf(['todo', 'done']),
    };
    type S = typeof state;
    const mprotect = (s: View<S>, c: number): string => {
      const pending = p.batchedPending ? `${flushTlbBatchedPending(s, c, MM0, k, tables)}; ` : '';
      const changed = changePteRange(s, c, MM0, VA);
      const flush = changed ? flushTlbMmRange(s, c, { mm: MM0, va: VA, freedTables: false }, k, tables) : 'no PTE changed: no flush';
      permissionNarrowed(s, c, tables, VA, 'read');
      s.mprotect = 'done';
      return `mprotect(va0, PROT_READ): ${pending}change_pte_range: ${changed ? 'PTE → read-only' : 'PTE not present, skipped'}; ${flush}; returns`;
    };
    return machine(state, {
      init: w.init,
      actions: {
        reclaim_unmap: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'user' && s.reclaim === 'todo' && s.ptePresent[0][VA],
          effect: (s, c) => {
            ptepGetAndClear(s, MM0, VA, c);
            setTlbUbcFlushPending(s, c, MM0, tables);
            s.pc[c] = 'reclaiming';
            s.reclaim = 'unmapped';
          },
          describe: (s) => `kswapd: try_to_unmap_one(va0): ptep_get_and_clear (D=${s.pteDirty[0][VA] ? '1 → folio dirty' : '0'}); set_tlb_ubc_flush_pending: flush batched`,
        },
        reclaim_flush: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'reclaiming',
          effect: (s, c) => {
            tryToUnmapFlush(s, c, MM0, k, tables);
            freeFrame(s, 0);
            s.pc[c] = 'user';
            s.reclaim = 'done';
          },
          describe: (s, c) => phraseOf(s, (x) => `kswapd: ${tryToUnmapFlush(x, c, MM0, k, tables)}; free pfn0`),
        },
        mprotect: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'user' && s.mprotect === 'todo',
          effect: (s, c) => void mprotect(s, c),
          describe: (s, c) => phraseOf(s, (x) => mprotect(x, c)),
        },
        ...hardwareActions<S>(sh, o, { userMode: (s, c) => s.pc[c] === 'user' }),
      },
      // The two precise properties first: a violating state names them before their consequences.
      invariants: { 'no-wider-permission': noWiderPermission<S>(), 'no-dirty-after-harvest': noDirtyAfterHarvest<S>(), ...coreProperties<S>() },
      endState: (s) => s.pc.every((x) => x === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { batchedPending: false }, verdict: 'violated', invariant: 'no-wider-permission', note: 'mprotect found the PTE cleared by reclaim and returned; the write goes through the old RW entry' },
    { params: { dirtySetRechecksPte: false }, verdict: 'violated', invariant: 'no-dirty-after-harvest', note: "a write through a clean entry sets D in the PTE reclaim cleared: the write is lost" },
  ],
});
