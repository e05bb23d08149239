/**
 * The sizes every hardware building block is declared with. A model builds one
 * `HwShape` from its parameters and passes it to each `...Fields()` function,
 * so the blocks agree on index ranges.
 *
 * Abstraction (deliberately small, state explosion is the enemy):
 * - `PAGE` are user virtual pages va0..vaP-1 under `pmds` upper-level entries
 *   (PMDs) per root, default one: consecutive pages share a PMD (pmdSlotOf in
 *   pagetable.ts), and each PMD points to one page-table page at a time.
 * - Physical page-table pages are a pool of `tables` ids; data frames a pool of
 *   `frames` ids ("pfn"). Values are ids, not addresses.
 * - PTE contents are tagged with a ghost version (which kernel PTE store wrote
 *   them), 0..`versions`.
 */
import type { Sort } from '../engine/types.js';

export interface HwShape {
  readonly CPU: Sort;
  readonly PAGE: Sort;
  /** Page-table roots (one per mm, init_mm included; root r belongs to mm r). */
  readonly roots: number;
  /** Physical page-table pages (PTE pages). */
  readonly tables: number;
  /** Physical data frames. */
  readonly frames: number;
  /** PCIDs in use (CR3 bits 11:0 take values 0..pcids-1 here). */
  readonly pcids: number;
  /** Highest ghost PTE version. */
  readonly versions: number;
  /** PMD entries per root (page-table pages one mm can have at once); default 1. Pages under different PMDs are not interchangeable. */
  readonly pmds?: number;
}

/** The PMD entries per root of a shape. */
export const pmdsOf = (sh: Pick<HwShape, 'pmds'>): number => sh.pmds ?? 1;
