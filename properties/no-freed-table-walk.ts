import { NONE, type StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import type { GhostView } from '../src/hw/ghost.js';

/**
 * no-freed-table-walk: no page walk (demand or speculative, from a cached
 * paging-structure entry or from memory) ever reads a page-table page after
 * the kernel freed it. (Condition (1) of the async-flush thread: "speculative
 * page walks might cause machine-checks".)
 *
 * Ghost: hw/walk.ts latches `freedTableWalk` when the page-table page it reads
 * has `tableFreed` set (kernel/free.ts freeTable()).
 */
export function noFreedTableWalk<D extends StateDecl>(): InvariantDef<D> {
  const g = (s: unknown) => s as GhostView;
  return {
    doc: 'No page walk reads a freed page-table page.',
    holds: (s) => g(s).freedTableWalk === NONE,
    explain: (s) => `CPU${g(s).freedTableWalk} walked through a page-table page that had already been freed (stale paging-structure-cache entry)`,
  };
}
