/**
 * Kernel locks as state. A CPU that would spin or sleep on a lock is simply
 * not enabled (the model's guard checks the lock is free), so every
 * interleaving the lock allows is explored and none it forbids.
 *   PTL         the page-table lock of a PT page (split PTE locks:
 *               pte_offset_map_lock() / pte_unmap_unlock(), mm/memory.c)
 *   mmap_lock   per mm, a reader-writer semaphore (mmap_read_lock(),
 *               mmap_write_lock(), include/linux/mmap_lock.h)
 * Taking a lock that is held, or releasing one the CPU does not hold, is a
 * model error, not a verdict.
 */
import { array, bits, NONE, ref, setOf } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from '../hw/shape.js';
import type { KernelShape } from './shape.js';

export function ptlFields(sh: Pick<HwShape, 'CPU' | 'tables'>) {
  return {
    /** The CPU holding each PT page's lock (NONE = free). */
    ptlOwner: array(sh.tables, ref(sh.CPU, { none: true })),
  };
}
export type PtlView = View<ReturnType<typeof ptlFields>>;

export const ptlFree = (s: PtlView, t: number): boolean => s.ptlOwner[t] === NONE;
export const ptlHeldBy = (s: PtlView, t: number, c: number): boolean => s.ptlOwner[t] === c;

export function ptlLock(s: PtlView, c: number, t: number): void {
  if (!ptlFree(s, t)) throw new Error(`CPU${c} takes the PTL of PT page ${t}, held by CPU${s.ptlOwner[t]}: the step's guard must wait for ptlFree()`);
  s.ptlOwner[t] = c;
}
export function ptlUnlock(s: PtlView, c: number, t: number): void {
  if (!ptlHeldBy(s, t, c)) throw new Error(`CPU${c} releases the PTL of PT page ${t}, which it does not hold`);
  s.ptlOwner[t] = NONE;
}

export function mmapLockFields(k: Pick<KernelShape, 'CPU' | 'mms'>) {
  return {
    mmapWriter: array(k.mms, ref(k.CPU, { none: true })),
    mmapReaders: array(k.mms, setOf(k.CPU)),
  };
}
export type MmapLockView = View<ReturnType<typeof mmapLockFields>>;

/** mmap_read_lock() can be taken now (no writer). */
export const mmapReadLockable = (s: MmapLockView, mm: number): boolean => s.mmapWriter[mm] === NONE;
/** mmap_write_lock() can be taken now (no writer, no reader). */
export const mmapWriteLockable = (s: MmapLockView, mm: number): boolean => s.mmapWriter[mm] === NONE && s.mmapReaders[mm] === 0;

export function mmapReadLock(s: MmapLockView, c: number, mm: number): void {
  rwsemReadLock(s.mmapWriter, s.mmapReaders, mm, c, `mmap_lock(mm${mm})`);
}
export function mmapReadUnlock(s: MmapLockView, c: number, mm: number): void {
  rwsemReadUnlock(s.mmapReaders, mm, c, `mmap_lock(mm${mm})`);
}
export function mmapWriteLock(s: MmapLockView, c: number, mm: number): void {
  rwsemWriteLock(s.mmapWriter, s.mmapReaders, mm, c, `mmap_lock(mm${mm})`);
}
export function mmapWriteUnlock(s: MmapLockView, c: number, mm: number): void {
  rwsemWriteUnlock(s.mmapWriter, mm, c, `mmap_lock(mm${mm})`);
}

// A reader-writer semaphore as two arrays indexed by lock: the writer (a CPU
// or NONE) and the readers (a CPU set). `name` is the lock in errors.
export function rwsemReadLock(writer: number[], readers: number[], i: number, c: number, name: string): void {
  if (writer[i] !== NONE) throw new Error(`CPU${c} takes ${name} for read while CPU${writer[i]} holds it for write`);
  readers[i] = bits.add(readers[i]!, c);
}
export function rwsemReadUnlock(readers: number[], i: number, c: number, name: string): void {
  if (!bits.has(readers[i]!, c)) throw new Error(`CPU${c} releases ${name} for read without holding it`);
  readers[i] = bits.del(readers[i]!, c);
}
export function rwsemWriteLock(writer: number[], readers: number[], i: number, c: number, name: string): void {
  if (writer[i] !== NONE || readers[i] !== 0) throw new Error(`CPU${c} takes ${name} for write while it is held`);
  writer[i] = c;
}
export function rwsemWriteUnlock(writer: number[], i: number, c: number, name: string): void {
  if (writer[i] !== c) throw new Error(`CPU${c} releases ${name} for write without holding it`);
  writer[i] = NONE;
}
