/**
 * PTI (page-table isolation) with PCIDs (docs/x86-semantics-review.md §2.5):
 * every ASID slot a has a kernel PCID (here pcid a) and a user PCID (here
 * pcid a + asids). A flush in kernel mode drops the kernel-PCID entries at
 * once and either INVPCIDs the user-PCID copy (type 0) or only sets bit a in
 * the per-CPU user_pcid_flush_mask (invalidate_user_asid); the exit to user
 * (SWITCH_TO_USER_CR3) tests and clears the bit and then writes the user CR3
 * without NOFLUSH. Paranoid entries (NMI) save CR3 and switch to the kernel
 * CR3; PARANOID_RESTORE_CR3 honours a pending bit for a saved user CR3.
 */
import { array, bool } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { cr3Write, invpcid } from '../hw/invalidate.js';
import type { FlushHooks } from './flush.js';
import type { KernelShape } from './shape.js';
import type { KView } from './switch.js';

export function ptiFields(k: Pick<KernelShape, 'CPU' | 'asids'>) {
  return {
    /** per-CPU user_pcid_flush_mask, one bit per ASID slot (non-atomic, only this CPU writes it). */
    userPcidFlushMask: array(k.CPU, array(k.asids, bool())),
  };
}
export type PtiView = View<ReturnType<typeof ptiFields>>;
type V = KView & PtiView;

export const kernPcid = (asid: number): number => asid;
export const userPcid = (asid: number, asids: number): number => asid + asids;
export const isUserPcid = (pcid: number, asids: number): boolean => pcid >= asids;
export const asidOfPcid = (pcid: number, asids: number): number => (pcid >= asids ? pcid - asids : pcid);

/** invalidate_user_asid(asid): __set_bit(asid, user_pcid_flush_mask). */
export function invalidateUserAsid(s: V, c: number, asid: number): void {
  s.userPcidFlushMask[c]![asid] = true;
}

/** How flush_tlb_one_user() removes the user-PCID copy of one address ('none': it does not, a bug). */
export type UserPcidFlush = 'invpcid' | 'mark' | 'none';

/**
 * flush_tlb_func() hooks for PTI: a full local flush always marks the user
 * PCID (invalidate_user_asid); a one-address flush of the user PCID goes by
 * `one` ('none' leaves the user copy alone).
 */
export function ptiFlushHooks(asids: number, one: UserPcidFlush): FlushHooks {
  return {
    ...(one === 'none'
      ? {}
      : {
          flushOneUser: (s: KView, c: number, va: number, asid: number) => {
            if (one === 'invpcid') invpcid(s, c, 0, userPcid(asid, asids), va);
            else invalidateUserAsid(s as V, c, asid);
          },
        }),
    flushLocal: (s, c, asid) => invalidateUserAsid(s as V, c, asid),
  };
}
export function ptiSwitchHooks(o: { skipSwitchMark?: boolean } = {}) {
  return { onFlushingLoad: (s: KView, c: number, asid: number) => (o.skipSwitchMark ? undefined : invalidateUserAsid(s as V, c, asid)) };
}

/** SWITCH_TO_KERNEL_CR3 (entry from user): kernel PCID of the same slot, NOFLUSH. */
export function switchToKernelCr3(s: V, c: number, asids: number): void {
  cr3Write(s, c, s.cr3Root[c]!, kernPcid(asidOfPcid(s.cr3Pcid[c]!, asids)), true);
}

/** SWITCH_TO_USER_CR3, last step: write the user CR3, flushing the user PCID unless `noflush`. */
export function writeUserCr3(s: V, c: number, asids: number, noflush: boolean): void {
  cr3Write(s, c, s.cr3Root[c]!, userPcid(asidOfPcid(s.cr3Pcid[c]!, asids), asids), noflush);
}

/**
 * PARANOID_RESTORE_CR3 for a saved user CR3: btr the slot's pending bit and
 * write the saved CR3 flushing if it was set (`ignorePending`: always NOFLUSH,
 * the bug). Returns whether the write flushed.
 */
export function paranoidRestoreUserCr3(s: V, c: number, savedPcid: number, asids: number, ignorePending = false): boolean {
  const a = asidOfPcid(savedPcid, asids);
  const pending = s.userPcidFlushMask[c]![a]!;
  const flush = pending && !ignorePending;
  if (flush) s.userPcidFlushMask[c]![a] = false;
  cr3Write(s, c, s.cr3Root[c]!, savedPcid, !flush);
  return flush;
}
