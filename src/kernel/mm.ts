/**
 * struct mm_struct, the TLB-relevant parts: context.tlb_gen (atomic64, bumped
 * by flush_tlb_mm_range with a full barrier AFTER the PTE stores) and
 * mm_cpumask (CPUs that may hold this mm's translations; "lazy" since 2024: a
 * CPU's bit stays set after it switches away until a flush IPI clears it).
 * context.ctx_id is a constant (ctxIdOf).
 */
import { array, int, setOf } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { KernelShape } from './shape.js';

export function mmFields(k: KernelShape) {
  return {
    tlbGen: array(k.mms, int(0, k.maxGen)),
    mmCpumask: array(k.mms, setOf(k.CPU)),
  };
}
export type MmView = View<ReturnType<typeof mmFields>>;

/** inc_mm_tlb_gen(): atomic64_inc_return (full barrier). */
export function incMmTlbGen(s: MmView, mm: number): number {
  s.tlbGen[mm] = s.tlbGen[mm]! + 1;
  return s.tlbGen[mm]!;
}
