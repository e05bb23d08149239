/**
 * The common starting point of the kernel models. By default one user
 * process (mm0) plus init_mm, N CPUs all running mm0 with ASID 0 loaded and
 * in mm_cpumask(mm0), mm0's one page-table page (PT page 0) mapping va_i →
 * pfn_i writable and clean. Options make it another world:
 *   userMms  user processes mm0..mm(u-1); init_mm is mm u. mm m has root m
 *            and PT page m (see pmds), mapping va_i → pfn (m·P + i).
 *   start    where each CPU starts: running a task of mm m, lazy on mm m (a
 *            kernel thread that kept m's CR3: is_lazy, still in the mask), or
 *            on init_mm (a kernel thread that never borrowed an mm).
 *   pte      how every initial PTE starts (writable, dirty).
 *   emptyMms user mms that map nothing: a task to switch to whose own
 *            memory plays no part (no walks, no TLB entries of its own).
 *   maps     which pages start mapped (the others have a PTE that is not
 *            present, e.g. the target of an mremap).
 *   frame    the frame each mapped page starts on; default pfn (m·P + i).
 *            Two pages on one frame: one page mapped twice (two VMAs of a
 *            file, a shared device page).
 *   pmds     PMD entries per root (hw/shape.ts): mm m's page-table page for
 *            PMD slot k is PT page m·pmds + k, each mapping its slot's pages.
 *   tce      AMD EFER.TCE on every CPU (hw/efer.ts): INVLPG keeps the PSC
 *            entries of the other PMD slots.
 * Pages stay interchangeable (a symmetric sort) unless `maps`, `frame` or
 * several PMDs tell them apart.
 * Returns the hardware and kernel shapes and the state fields of every
 * building block, for a model to extend with its own program counters.
 */
import { bits, cpus, NONE, sort } from '../engine/types.js';
import { cpuFields } from '../hw/cpu.js';
import { ghostFields } from '../hw/ghost.js';
import { pageTableFields, pteInit, pteValueMax, tableOf } from '../hw/pagetable.js';
import { eferFields } from '../hw/efer.js';
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
  /** User processes (mm0..mm(userMms-1)); default 1. */
  userMms?: number;
  /** Where CPU c starts; default every CPU runs a task of mm0. */
  start?: (c: number) => CpuStart;
  /** How every initial PTE starts; default writable and clean. */
  pte?: { writable?: boolean; dirty?: boolean };
  /** User mms that map no user page (no PMD): their tasks' memory plays no part in the race. */
  emptyMms?: readonly number[];
  /** Which pages of a (non-empty) user mm start mapped; default all. An unmapped one has a PTE that is not present. */
  maps?: (mm: number, va: number) => boolean;
  /** The frame (pfn) mapped page va of mm starts on, in 0..userMms·P-1; default mm·P + va. */
  frame?: (mm: number, va: number) => number;
  /** PMD entries per root: page-table pages per mm (default 1). */
  pmds?: number;
  /** EFER.TCE on every CPU (the eferTce fields are added whenever this is given). */
  tce?: boolean;
}

/** A CPU's starting point: `mm` a user mm (running its task, or lazy on it) or 'init_mm'. */
export type CpuStart = { mm: number; lazy?: boolean } | 'init_mm';

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
  const users = p.userMms ?? 1;
  if (!Number.isInteger(users) || users < 1) throw new Error(`world: userMms must be an integer >= 1 (got ${users})`);
  const mms = users + 1; // the user mms + init_mm
  const INIT_MM = users;
  const starts = Array.from({ length: p.N }, (_, c) => {
    const st = p.start ? p.start(c) : { mm: MM0 };
    if (st !== 'init_mm' && !(Number.isInteger(st.mm) && st.mm >= 0 && st.mm < users))
      throw new Error(`world: CPU${c} starts on mm${st.mm}, but the user mms are mm0..mm${users - 1}`);
    return st === 'init_mm' ? { mm: INIT_MM, lazy: false } : { mm: st.mm, lazy: st.lazy ?? false };
  });
  // CPUs that start in different places are not interchangeable (no CPU symmetry).
  const uniform = starts.every((st) => st.mm === starts[0]!.mm && st.lazy === starts[0]!.lazy);
  const CPU = cpus(p.N, { symmetric: uniform });
  const pmds = p.pmds ?? 1;
  const PAGE = sort('page', p.P, { symmetric: !p.maps && !p.frame && pmds === 1 });
  const frameOf = (m: number, va: number): number => {
    const f = p.frame ? p.frame(m, va) : m * p.P + va;
    if (!Number.isInteger(f) || f < 0 || f >= users * p.P) throw new Error(`world: mm${m} va${va} starts on pfn${f}, but the frames are pfn0..pfn${users * p.P - 1}`);
    return f;
  };
  // Checked here, so a bad option is an error when the model is built, not at its first state.
  for (let m = 0; m < users; m++) for (let va = 0; va < p.P; va++) if (!p.emptyMms?.includes(m) && (!p.maps || p.maps(m, va))) frameOf(m, va);
  const asids = p.asids ?? 1;
  const hwShape: HwShape = { CPU, PAGE, roots: mms, tables: users * pmds, frames: users * p.P, pcids: asids, versions: p.OPS, ...(pmds > 1 ? { pmds } : {}) };
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
    ...(p.tce === undefined ? {} : eferFields(hwShape, { tce: p.tce })),
  };
  const tablesOf = (mm: number): number[] => (mm < users ? Array.from({ length: pmds }, (_, k) => mm * pmds + k) : []);
  const init = (v: unknown): void => {
    const s = v as KView;
    for (let m = 0; m < users; m++) {
      if (p.emptyMms?.includes(m)) continue;
      for (let k = 0; k < pmds; k++) s.pmd[m]![k] = m * pmds + k;
      for (let va = 0; va < p.P; va++) {
        if (p.maps && !p.maps(m, va)) continue;
        const t = tableOf(s, m, va);
        pteInit(s, t, va, frameOf(m, va), p.pte?.writable ?? true);
        s.pteDirty[t]![va] = p.pte?.dirty ?? false;
      }
    }
    starts.forEach((st, c) => {
      if (st.mm !== INIT_MM) s.mmCpumask[st.mm] = bits.add(s.mmCpumask[st.mm]!, c);
      s.cr3Root[c] = st.mm;
      s.loadedMm[c] = st.mm;
      s.isLazy[c] = st.lazy;
      s.ctxCtxId[c]![0] = ctxIdOf(st.mm);
      s.nextAsid[c] = asids > 1 ? 1 : 0;
      // current->mm, for models with the context-switch block: NONE on a kernel thread (lazy or on init_mm).
      const cur = (v as { curMm?: number[] }).curMm;
      if (cur) cur[c] = st.lazy || st.mm === INIT_MM ? NONE : st.mm;
    });
  };
  return { CPU, PAGE, hwShape, k, fields, init, INIT_MM, tablesOf };
}

/** Run `f` on a deep copy of the view and return its phrase (describe() must not mutate). */
export function phraseOf<S>(s: S, f: (copy: S) => string): string {
  return f(structuredClone(s));
}

export type WorldView = KView & HwView;
