/**
 * Sizes for the kernel building blocks. mm ids 0..mms-1; the LAST one is
 * init_mm (the kernel's own mm: its root maps no user pages). mm m's page
 * tables are hardware root m (see src/hw/shape.ts).
 */
import type { Sort } from '../engine/types.js';

export interface KernelShape {
  readonly CPU: Sort;
  readonly PAGE: Sort;
  /** Number of mms including init_mm. */
  readonly mms: number;
  /** Dynamic ASID slots per CPU (TLB_NR_DYN_ASIDS, 6 in Linux; 1-2 here). ASID a uses PCID a. */
  readonly asids: number;
  /** Highest mm->tlb_gen (one bump per flush_tlb_mm_range). */
  readonly maxGen: number;
}

export const initMm = (k: Pick<KernelShape, 'mms'>): number => k.mms - 1;
/** mm->context.ctx_id: unique per mm, never reused, never 0 (0 marks an unused ASID slot). */
export const ctxIdOf = (mm: number): number => mm + 1;
