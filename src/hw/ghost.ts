/**
 * Ghost bookkeeping shared by hardware and kernel blocks and read by the
 * generic properties in properties/. None of it influences behaviour.
 *
 * - flushedUpTo[t][va] = v: a flush covering this PTE that STARTED (its
 *   initiator's inc_mm_tlb_gen) when the PTE was at version v has RETURNED to
 *   its initiator, so every entry filled from a version < v is dead (must never
 *   be used again). Versions written after that start are promised by later
 *   flushes only (kernel/flush.ts flushStarted/flushReturned).
 * - frameFreed / frameWritten: data frame freed to the allocator; some write
 *   landed in the frame.
 * - staleUse, uafUse, freedTableWalk: the first CPU that accessed memory
 *   through a dead translation / a freed frame, or walked a freed
 *   page-table page (NONE = never). Latched, so the trace ends at the access.
 */
import { array, bool, int, NONE, ref } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from './shape.js';

export function ghostFields(sh: HwShape) {
  const { CPU, PAGE, tables, frames, versions } = sh;
  // A CPU id: ref-typed, so symmetry reduction maps it with the CPUs.
  const who = () => ref(CPU, { none: true });
  return {
    flushedUpTo: array(tables, array(PAGE, int(0, versions))),
    frameFreed: array(frames, bool()),
    frameWritten: array(frames, bool()),
    staleUse: who(),
    uafUse: who(),
    freedTableWalk: who(),
  };
}
export type GhostView = View<ReturnType<typeof ghostFields>>;

/**
 * Opt-in ghosts of the access block for two properties (a model that checks
 * them adds these fields; other models' states do not carry them):
 * - permNarrowedUpTo[t][va] = v: an operation that narrowed this PTE's
 *   permissions (mprotect) has returned, and v is the PTE's version as it
 *   returns (its own store included: an entry from before that store is
 *   older): entries filled from a version < v must not be used for more
 *   than it left: no write, and no read either if `permNoRead`
 *   (PROT_NONE) (properties/no-wider-permission.ts). What happens to the
 *   PTE afterwards (reclaim clearing it) does not change that promise.
 * - widerPermUse: the first CPU that did so.
 * - dirtyLost: the first CPU whose write through a clean entry set D in no
 *   present PTE mapping the written frame: the PTE had been cleared (its D
 *   already harvested) or now maps another frame
 *   (properties/no-dirty-after-harvest.ts).
 */
export function accessGhostFields(sh: HwShape) {
  const { CPU, PAGE, tables, versions } = sh;
  return {
    permNarrowedUpTo: array(tables, array(PAGE, int(0, versions))),
    permNoRead: array(tables, array(PAGE, bool())),
    widerPermUse: ref(CPU, { none: true }),
    dirtyLost: ref(CPU, { none: true }),
  };
}
export type AccessGhostView = View<ReturnType<typeof accessGhostFields>>;

/** The access ghosts if the model declared them (accessGhostFields), else null. */
export const accessGhostsOf = (s: unknown): AccessGhostView | null => ((s as Partial<AccessGhostView>).widerPermUse === undefined ? null : (s as AccessGhostView));

/** For a property that reads the access ghosts: the ghosts, or an error naming the property and the fix (never a missing field read as a violation). */
export function accessGhostsFor(property: string): (s: unknown) => AccessGhostView {
  return (s) => {
    const v = accessGhostsOf(s);
    if (!v) throw new Error(`${property} needs the access ghosts: add ...accessGhostFields(hwShape) to the model state`);
    return v;
  };
}

export const latch = (cur: number, c: number): number => (cur === NONE ? c : cur);
