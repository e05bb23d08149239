/**
 * struct mm_struct, the TLB-relevant parts: context.tlb_gen (atomic64, bumped
 * by flush_tlb_mm_range with a full barrier AFTER the PTE stores) and
 * mm_cpumask (CPUs that may hold this mm's translations; "lazy" since 2024: a
 * CPU's bit stays set after it switches away until a flush IPI clears it).
 * context.ctx_id is a constant (ctxIdOf).
 */
import { array, bits, int, setOf } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { fence } from '../hw/store-buffer.js';
import type { KernelShape } from './shape.js';

export function mmFields(k: KernelShape) {
  return {
    tlbGen: array(k.mms, int(0, k.maxGen)),
    mmCpumask: array(k.mms, setOf(k.CPU)),
  };
}
export type MmView = View<ReturnType<typeof mmFields>>;

/**
 * inc_mm_tlb_gen() on CPU c: atomic64_inc_return, a LOCK XADD, so a full
 * barrier ("synchronizes with switch_mm()"): under TSO it drains c's store
 * buffer first.
 */
export function incMmTlbGen(s: MmView, mm: number, c?: number): number {
  if (c !== undefined) fence(s, c);
  s.tlbGen[mm] = s.tlbGen[mm]! + 1;
  return s.tlbGen[mm]!;
}

/** cpumask_set_cpu(c, mm_cpumask(mm)) on CPU c: LOCK BTS (drains c's store buffer). */
export function mmCpumaskSet(s: MmView, mm: number, c: number): void {
  fence(s, c);
  s.mmCpumask[mm] = bits.add(s.mmCpumask[mm]!, c);
}
/** cpumask_clear_cpu(c, mm_cpumask(mm)) on CPU c: LOCK BTR. */
export function mmCpumaskClear(s: MmView, mm: number, c: number): void {
  fence(s, c);
  s.mmCpumask[mm] = bits.del(s.mmCpumask[mm]!, c);
}
