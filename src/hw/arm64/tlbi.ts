/**
 * arm64 TLB maintenance broadcast to the Inner Shareable domain (Arm ARM,
 * D8 "The AArch64 Virtual Memory System Architecture", TLB maintenance
 * instructions), on the broadcast core (../broadcast-inval.ts):
 *
 *   TLBI VAE1IS   by VA and ASID: the leaf entry (a global one too) and the
 *                 cached walk (intermediate) entries used to translate
 *                 that VA;
 *   TLBI VALE1IS  by VA and ASID, last level only: walk-cache entries may
 *                 stay;
 *   TLBI RVAE1IS / RVALE1IS  the same for a range (FEAT_TLBIRANGE): NUM and
 *                 SCALE encode (NUM+1)·2^(5·SCALE+1) pages;
 *   DSB ISH       waits until every TLBI this PE issued has completed on
 *                 every PE; before it, another PE may still use the old
 *                 entries.
 *
 * The ASID is the PCID index of the x86-shaped TLB (hw/tlb.ts): the walker
 * stands in for the arm64 one (leaf entries and one cached table level).
 * Plain memory is sequentially consistent in these models, so the DSB ISHST
 * that orders the page-table stores before the TLBIs is assumed, not
 * modelled.
 */
import type { ActionDef } from '../../engine/model.js';
import type { StateDecl } from '../../engine/types.js';
import { bcArriveAction, bcIdle, bcIssue, broadcastInvalFields, type BroadcastInvalView } from '../broadcast-inval.js';
import type { HwShape } from '../shape.js';

export const tlbiFields = (sh: Pick<HwShape, 'CPU' | 'PAGE' | 'pcids'>) => broadcastInvalFields(sh);
export type TlbiView = BroadcastInvalView;

/** The TLBI ops of one __flush_tlb_range_op(), by name, as the kernel issues them. */
export type TlbiOp = { kind: 'page'; va: number } | { kind: 'range'; va: number; num: number; scale: number };

/** Pages one range op covers: __TLBI_RANGE_PAGES(num, scale). */
export const tlbiRangePages = (num: number, scale: number): number => (num + 1) << (5 * scale + 1);

/**
 * __flush_tlb_range_op()'s loop for `pages` pages from `start` (stride one
 * page): without range support, or for an odd count, one page at a time
 * (the "pages % 2 == 1" case of the loop before LPA2); else range ops of
 * growing SCALE, each NUM = __TLBI_RANGE_NUM(pages, scale).
 */
export function tlbiRangeOps(start: number, pages: number, rangeSupported: boolean): TlbiOp[] {
  const ops: TlbiOp[] = [];
  let va = start;
  let left = pages;
  let scale = 0;
  while (left > 0) {
    if (!rangeSupported || left % 2 === 1) {
      ops.push({ kind: 'page', va });
      va += 1;
      left -= 1;
      continue;
    }
    const num = ((left >> (5 * scale + 1)) & 0x1f) - 1;
    if (num >= 0) {
      ops.push({ kind: 'range', va, num, scale });
      va += tlbiRangePages(num, scale);
      left -= tlbiRangePages(num, scale);
    }
    scale++;
  }
  return ops;
}

/** Issue the TLBIs of `ops` on PE c for `asid` (VAE1IS family, or VALE1IS with lastLevel). Returns the phrase. */
export function tlbiIs(s: TlbiView, c: number, asid: number, ops: readonly TlbiOp[], lastLevel: boolean): string {
  const pages = ops.flatMap((op) => (op.kind === 'page' ? [op.va] : Array.from({ length: tlbiRangePages(op.num, op.scale) }, (_, i) => op.va + i)));
  bcIssue(s, c, { pcid: asid, pages, leafOnly: lastLevel, byVa: true }, { join: true, what: 'TLBI' });
  const L = lastLevel ? 'L' : '';
  return ops.map((op) => (op.kind === 'page' ? `TLBI VA${L}E1IS va${op.va}` : `TLBI RVA${L}E1IS va${op.va} (NUM ${op.num}, SCALE ${op.scale}: ${tlbiRangePages(op.num, op.scale)} pages)`)).join('; ');
}

/** DSB ISH on PE c can complete: every TLBI it issued is done everywhere. */
export const dsbIshDone = (s: TlbiView, c: number): boolean => bcIdle(s, c);

/** The TLBIs of a PE reach another PE (any time before its DSB completes). */
export function tlbiArriveAction<D extends StateDecl>(sh: Pick<HwShape, 'CPU'>): ActionDef<D> {
  return bcArriveAction<D>(sh, 'TLBI', (x, from, pages) => `TLBI from CPU${from} done here: ASID ${x.bcPcid[from]} ${pages}${x.bcLeafOnly[from] ? ' (last level: walk cache kept)' : ' and their walk-cache entries'}`);
}
