/**
 * A file's reverse map (struct address_space: i_mmap and i_mmap_rwsem;
 * mm/rmap.c, mm/memory.c, mm/mmap.c). The VMAs that map the file are fixed
 * by the model (`Vma`: one page of one mm each); the state is which of them
 * are still linked into i_mmap, the i_mmap rwsem, and where each CPU's walk
 * of the tree is.
 *
 *   unlink_file_vma()       munmap's free_pgtables(): take i_mmap_lock_write,
 *                           remove the VMA from i_mmap, release;
 *   unmap_mapping_range()   i_mmap_lock_read, then zap_page_range_single() on
 *                           each VMA still in the tree
 *                           (vma_interval_tree_foreach), i_mmap_unlock_read.
 *
 * The walk only sees linked VMAs: one that munmap has already unlinked is
 * skipped, whatever its TLB entries. unmap_mapping_range() returning is then
 * no promise about that VMA's TLBs unless munmap flushed before it unlinked
 * (tlb_end_vma() for VM_PFNMAP, b67fbebd4cf9).
 *
 * The walk's VMA set cannot change under it: unlinking needs the rwsem for
 * write, the walk holds it for read.
 */
import { array, bool, int, NONE, ref, setOf } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import { rwsemReadLock, rwsemReadUnlock, rwsemWriteLock, rwsemWriteUnlock } from './locks.js';

/** A VMA of the file: one page (va) of one mm. `pfnmap` = VM_PFNMAP (no struct page behind the PTE: not refcounted, not batched). */
export interface Vma {
  readonly mm: number;
  readonly va: number;
  readonly pfnmap: boolean;
}

export function rmapFields(sh: Pick<HwShape, 'CPU'>, vmas: readonly Vma[]) {
  return {
    /** The VMA is in the file's i_mmap tree. */
    vmaLinked: array(vmas.length, bool({ init: true })),
    /** i_mmap_rwsem (one file). */
    iMmapWriter: array(1, ref(sh.CPU, { none: true })),
    iMmapReaders: array(1, setOf(sh.CPU)),
    /** The VMA CPU c's unmap_mapping_range() visits next; NONE = none left. */
    rmapNext: array(sh.CPU, int(NONE, vmas.length - 1, { init: NONE })),
  };
}
export type RmapView = View<ReturnType<typeof rmapFields>>;

/** The first linked VMA after `v` (NONE: the walk is done). */
export function nextLinkedVma(s: RmapView, v: number): number {
  for (let i = v + 1; i < s.vmaLinked.length; i++) if (s.vmaLinked[i]) return i;
  return NONE;
}

/** i_mmap_lock_write() can be taken now. */
export const iMmapWriteLockable = (s: RmapView): boolean => s.iMmapWriter[0] === NONE && s.iMmapReaders[0] === 0;
/** i_mmap_lock_read() can be taken now. */
export const iMmapReadLockable = (s: RmapView): boolean => s.iMmapWriter[0] === NONE;

/** unlink_file_vma() by CPU c, one step: i_mmap_lock_write, unlink VMA v, i_mmap_unlock_write. */
export function unlinkFileVma(s: RmapView, c: number, v: number): string {
  rwsemWriteLock(s.iMmapWriter, s.iMmapReaders, 0, c, 'i_mmap_rwsem');
  if (!s.vmaLinked[v]) throw new Error(`CPU${c} unlinks VMA ${v}, which is not in i_mmap`);
  s.vmaLinked[v] = false;
  rwsemWriteUnlock(s.iMmapWriter, 0, c, 'i_mmap_rwsem');
  return `unlink_file_vma(VMA ${v}): i_mmap_lock_write, removed from i_mmap, i_mmap_unlock_write`;
}

/** unmap_mapping_range() starts on CPU c: i_mmap_lock_read, the walk at the first linked VMA. */
export function unmapMappingRangeStart(s: RmapView, c: number): string {
  rwsemReadLock(s.iMmapWriter, s.iMmapReaders, 0, c, 'i_mmap_rwsem');
  s.rmapNext[c] = nextLinkedVma(s, -1);
  const linked = s.vmaLinked.flatMap((x, i) => (x ? [`VMA ${i}`] : []));
  return `unmap_mapping_range: i_mmap_lock_read; i_mmap holds ${linked.length ? linked.join(', ') : 'no VMA'}`;
}

/** CPU c's walk moves past the VMA it just zapped. */
export function rmapAdvance(s: RmapView, c: number): void {
  s.rmapNext[c] = nextLinkedVma(s, s.rmapNext[c]!);
}

/** unmap_mapping_range() ends on CPU c (the walk is done): i_mmap_unlock_read. */
export function unmapMappingRangeEnd(s: RmapView, c: number): string {
  if (s.rmapNext[c] !== NONE) throw new Error(`CPU${c} ends unmap_mapping_range with VMA ${s.rmapNext[c]} still to visit`);
  rwsemReadUnlock(s.iMmapReaders, 0, c, 'i_mmap_rwsem');
  return 'unmap_mapping_range: i_mmap_unlock_read; returns';
}

/** The VMA CPU c's walk is at (a model error if the walk is done). */
export function rmapVma(s: RmapView, c: number, vmas: readonly Vma[]): Vma {
  const v = vmas[s.rmapNext[c]!];
  if (!v) throw new Error(`CPU${c} has no VMA left to visit in unmap_mapping_range`);
  return v;
}
