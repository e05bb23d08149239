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

export const latch = (cur: number, c: number): number => (cur === NONE ? c : cur);
