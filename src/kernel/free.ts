/**
 * tlb_finish_mmu() after the flush: the unmapped data frames
 * (free_pages_and_swap_cache) and the unhooked page-table pages
 * (tlb_remove_table) go back to the page allocator. Afterwards any access to
 * such a frame is a use-after-free and any walk through such a page reads
 * garbage (properties/).
 */
import { NONE } from '../engine/types.js';
import type { HwView } from '../hw/walk.js';

export function freeFrame(s: HwView, frame: number): void {
  if (frame !== NONE) s.frameFreed[frame] = true;
}
export function freeTable(s: HwView, table: number): void {
  if (table !== NONE) s.tableFreed[table] = true;
}
