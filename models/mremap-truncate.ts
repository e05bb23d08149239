/**
 * mremap() against truncation of the file it maps (CVE-2018-18281; fixed by
 * eb66ae030829, "mremap: properly flush TLB before releasing the page",
 * 2018). mremap moves the PTE of a file page from va0 to va1 under the PTE
 * lock. It does not free the page, so only the lock keeps it alive while
 * other CPUs may still have va0 in their TLBs. Before the fix, mremap
 * flushed a clean PTE's va0 after dropping the PTL (a dirty one it flushed
 * under the lock, for page_mkclean's sake). A truncate on another CPU could
 * then take the PTL, zap the page at va1, flush va1 (not va0) and free the
 * page, while a TLB still mapped va0 to it:
 *
 *   CPU0 (mremap va0 → va1)      CPU1 (ftruncate)
 *   lock PTL; move PTE; unlock
 *                                lock PTL; zap va1; unlock
 *                                flush va1; put the mapping and page-cache
 *                                references: the page is freed
 *                                (user code) reads va0 through the old entry
 *   flush va0
 *
 * truncate does not take mmap_lock: it reaches the page through the file's
 * rmap (i_mmap), so the PTL is the only lock the two share.
 */
import { array, bool, defineModel, enumOf, int, machine, NONE, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions } from '../src/hw/index.js';
import {
  flushTlbMmRange,
  folioPut,
  folioRefFields,
  MM0,
  mmapLockFields,
  mmapWriteLock,
  mmapWriteLockable,
  mmapWriteUnlock,
  movePte,
  phraseOf,
  ptepGetAndClear,
  ptlFields,
  ptlFree,
  ptlLock,
  ptlUnlock,
  world,
} from '../src/kernel/index.js';
import { coreProperties } from '../properties/index.js';

const OLD = 0;
const NEW = 1;
const PAGE = 0; // the file page, pfn0
const PT = 0; // mm0's PT page

export default defineModel({
  name: 'mremap-truncate',
  description: 'mremap must flush the old address before it releases the PTE lock: a truncate may free the moved page as soon as the lock is free (CVE-2018-18281, eb66ae030829).',
  params: {
    N: { default: 2, min: 2, max: 4, doc: 'CPUs (threads of one process; one calls mremap, one ftruncate)' },
    flushUnderPtl: { default: true, doc: 'move_ptes() flushes the old range before dropping the PTL (the fix); false = before eb66ae030829' },
  },
  build: (p) => {
    // va0 maps the file page; va1, the mremap target, starts unmapped. PTE versions: the move (2 stores), the zap.
    const w = world({ N: p.N, P: 2, OPS: 3, maps: (_mm, va) => va === OLD });
    const { CPU, hwShape: sh, k } = w;
    const tables = w.tablesOf(MM0);
    const state = {
      ...w.fields,
      ...ptlFields(sh),
      ...mmapLockFields(k),
      ...folioRefFields(sh, 2),
      pc: array(CPU, enumOf(['user', 'mremap-moved', 'mremap-flushed', 'mremap-unlocked', 'truncate-zapped'])),
      mremap: enumOf(['todo', 'done']),
      truncate: enumOf(['todo', 'done']),
      /** move_ptes() flushes the old range before it drops the PTL: always with the fix, only for a dirty PTE before it. */
      forceFlush: bool(),
      /** The address truncate's rmap walk found the page at. */
      truncVa: int(NONE, 1, { init: NONE }),
    };
    type S = typeof state;
    const flushOld = (s: View<S>, c: number) => flushTlbMmRange(s, c, { mm: MM0, va: OLD, freedTables: false }, k, tables);
    // tlb_finish_mmu: the flush, then the mapping's reference; truncate_inode_folio: the page cache's.
    const truncateFlush = (s: View<S>, c: number): string => {
      const f = flushTlbMmRange(s, c, { mm: MM0, va: s.truncVa, freedTables: false }, k, tables);
      folioPut(s, PAGE);
      const freed = folioPut(s, PAGE);
      s.pc[c] = 'user';
      s.truncate = 'done';
      return `ftruncate: tlb_finish_mmu: ${f}; folio_put; truncate_inode_folio: folio_put → ${freed ? 'pfn0 FREED' : 'pfn0 still referenced'}`;
    };
    const mremapReturns = (s: View<S>, c: number) => {
      mmapWriteUnlock(s, c, MM0);
      s.pc[c] = 'user';
      s.mremap = 'done';
    };
    return machine(state, {
      init: (s) => {
        w.init(s);
        s.pageRefs[PAGE] = 2; // the page cache and the mapping at va0
      },
      actions: {
        mremap_move: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'user' && s.mremap === 'todo' && mmapWriteLockable(s, MM0) && ptlFree(s, PT) && s.ptePresent[PT][OLD],
          effect: (s, c) => {
            mmapWriteLock(s, c, MM0);
            ptlLock(s, c, PT);
            const { dirty } = movePte(s, c, MM0, OLD, NEW);
            s.forceFlush = p.flushUnderPtl || dirty; // before the fix only a dirty PTE was flushed under the PTL
            s.pc[c] = 'mremap-moved';
          },
          describe: (s) => `mremap(va0 → va1): mmap_write_lock; move_ptes: lock PTL, ptep_get_and_clear(va0) (D=${s.pteDirty[PT][OLD] ? 1 : 0}), set_pte_at(va1, pfn0)`,
        },
        // With force_flush: flush, then unlock. Without: unlock, then flush.
        mremap_flush: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === (s.forceFlush ? 'mremap-moved' : 'mremap-unlocked'),
          effect: (s, c) => {
            flushOld(s, c);
            if (s.forceFlush) s.pc[c] = 'mremap-flushed';
            else mremapReturns(s, c);
          },
          describe: (s, c) => phraseOf(s, (x) => `mremap: ${flushOld(x, c)}${s.forceFlush ? ' (PTL held)' : '; mmap_write_unlock; returns'}`),
        },
        mremap_unlock: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === (s.forceFlush ? 'mremap-flushed' : 'mremap-moved'),
          effect: (s, c) => {
            ptlUnlock(s, c, PT);
            if (s.forceFlush) mremapReturns(s, c);
            else s.pc[c] = 'mremap-unlocked';
          },
          describe: (s) => (s.forceFlush ? 'mremap: unlock PTL; mmap_write_unlock; returns' : 'mremap: clean PTE, flush deferred: unlock PTL (va0 not flushed yet)'),
        },
        truncate_zap: {
          over: [CPU, 2],
          guard: (s, c, va) => s.pc[c] === 'user' && s.truncate === 'todo' && ptlFree(s, PT) && s.ptePresent[PT][va] && s.pteFrame[PT][va] === PAGE,
          effect: (s, c, va) => {
            ptlLock(s, c, PT);
            ptepGetAndClear(s, MM0, va, c);
            ptlUnlock(s, c, PT);
            s.truncVa = va;
            s.pc[c] = 'truncate-zapped';
          },
          describe: (s, c, va) => `ftruncate: unmap_mapping_range finds pfn0 at va${va} (i_mmap); lock PTL, ptep_get_and_clear(va${va}), unlock PTL`,
        },
        truncate_flush: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'truncate-zapped',
          effect: (s, c) => void truncateFlush(s, c),
          describe: (s, c) => phraseOf(s, (x) => truncateFlush(x, c)),
        },
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { flushUnderPtl: false }, verdict: 'violated', invariant: 'no-use-after-free', note: 'truncate frees the page between the unlock and the flush of va0; a TLB still maps va0 to it' },
  ],
});
