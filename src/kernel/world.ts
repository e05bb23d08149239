/**
 * The common starting point of the shootdown models: one user process (mm0)
 * plus init_mm, N CPUs all running mm0 with ASID 0 loaded and in
 * mm_cpumask(mm0), mm0's one page-table page (PT page 0) mapping va_i →
 * pfn_i writable and clean. Returns the hardware and kernel shapes and the
 * state fields of every building block, for a model to extend with its own
 * program counters.
 */
import { bits, cpus, sort } from '../engine/types.js';
import { cpuFields } from '../hw/cpu.js';
import { ghostFields } from '../hw/ghost.js';
import { pageTableFields, pteInit, pteValueMax } from '../hw/pagetable.js';
import { storeBufferFields } from '../hw/store-buffer.js';
import type { HwShape } from '../hw/shape.js';
import { tlbFields } from '../hw/tlb.js';
import type { HwView } from '../hw/walk.js';
import { flushGhostFields, flushInfoFields } from './flush.js';
import { mmFields } from './mm.js';
import { folioFields } from './pgtable.js';
import { ctxIdOf, type KernelShape } from './shape.js';
import { csdFields } from './smp.js';
import type { KView } from './switch.js';
import { tlbStateFields } from './tlbstate.js';

export interface WorldParams {
  /** CPUs. */
  N: number;
  /** User pages. */
  P: number;
  /** Flush operations (each bumps mm0's tlb_gen once and writes one PTE once). */
  OPS: number;
  /** ASID slots per CPU. */
  asids?: number;
  /** x86-TSO store-buffer depth per CPU (hw/store-buffer.ts); 0/absent = off (no buffer fields at all). */
  tso?: number;
}

/** The store-buffer location kinds of the kernel building blocks. */
export const KERNEL_SB_KINDS = ['pte', 'pmd', 'loaded_mm', 'is_lazy', 'csd'] as const;

export const MM0 = 0;

/**
 * The store buffers of the kernel building blocks, only with TSO on (`tso` =
 * depth): without the fields every store goes straight to memory. Blocks
 * reach them through tsoOn()/sbOf() (hw/store-buffer.ts), so the fields are
 * not part of a model's typed view.
 */
export function kernelStoreBufferFields(sh: HwShape, mms: number, tso: number | undefined): {} {
  return tso ? storeBufferFields(sh, { depth: tso, kinds: KERNEL_SB_KINDS, idxMax: mms - 1, valLo: -1, valHi: pteValueMax(sh) }) : {};
}

export function world(p: WorldParams) {
  const CPU = cpus(p.N);
  const PAGE = sort('page', p.P, { symmetric: true });
  const asids = p.asids ?? 1;
  const mms = 2; // mm0 + init_mm
  const hwShape: HwShape = { CPU, PAGE, roots: mms, tables: 1, frames: p.P, pcids: asids, versions: p.OPS };
  const k: KernelShape = { CPU, PAGE, mms, asids, maxGen: p.OPS };
  const fields = {
    ...pageTableFields(hwShape),
    ...tlbFields(hwShape),
    ...cpuFields(hwShape),
    ...ghostFields(hwShape),
    ...folioFields(hwShape),
    ...mmFields(k),
    ...tlbStateFields(k),
    ...flushInfoFields(k),
    ...flushGhostFields(hwShape),
    ...csdFields(k),
    ...kernelStoreBufferFields(hwShape, mms, p.tso),
  };
  const init = (v: unknown): void => {
    const s = v as KView;
    s.pmd[MM0] = 0;
    for (let va = 0; va < p.P; va++) pteInit(s, 0, va, va);
    s.mmCpumask[MM0] = bits.all(p.N);
    for (let c = 0; c < p.N; c++) {
      s.cr3Root[c] = MM0;
      s.loadedMm[c] = MM0;
      s.ctxCtxId[c]![0] = ctxIdOf(MM0);
      s.nextAsid[c] = asids > 1 ? 1 : 0;
    }
  };
  return { CPU, PAGE, hwShape, k, fields, init, tablesOf: (mm: number) => (mm === MM0 ? [0] : []) };
}

/** Run `f` on a deep copy of the view and return its phrase (describe() must not mutate). */
export function phraseOf<S>(s: S, f: (copy: S) => string): string {
  return f(structuredClone(s));
}

export type WorldView = KView & HwView;
