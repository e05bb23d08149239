/**
 * Hardware behaviours where the sources disagree or vary between CPUs
 * (see docs/x86-semantics-review.md §1 and §3). Each is a model parameter.
 */
export interface HwOptions {
  /**
   * A write through a TLB entry whose cached D bit is clear re-reads the PTE
   * in memory and faults (#PF, entry dropped) if it is no longer present and
   * writable (SDM §4.8; kernel commit "x86/mm: Introduce _PAGE_SAVED_DIRTY").
   * false = the D update is a blind store into whatever PTE the walk finds
   * and the write proceeds (what a model must NOT assume on x86, kept as the
   * adversarial variant).
   */
  readonly dirtySetRechecksPte: boolean;
  /**
   * Pre-shadow-stack (pre-CET) CPUs may set D=1 in the PTE and still fault
   * when the PTE is no longer writable (same commit). Only meaningful with
   * dirtySetRechecksPte.
   */
  readonly dirtySetOnFaultingWrite: boolean;
  /**
   * x86-TSO store buffers of this depth per CPU (store-buffer.ts); 0 = off,
   * every store is globally visible at once (sequential consistency). The
   * model must also declare the buffers (kernel world({ tso })).
   */
  readonly storeBufferDepth: number;
}

export const defaultHwOptions: HwOptions = {
  dirtySetRechecksPte: true,
  dirtySetOnFaultingWrite: false,
  storeBufferDepth: 0,
};

/** The store-buffer parameter, for models whose building blocks are wired for TSO. */
export const tsoParams = {
  tso: {
    default: 0,
    min: 0,
    max: 2,
    doc: 'hw: x86-TSO store buffer depth per CPU (0 = off: every store is visible at once; 1-2 = plain stores are buffered, fences and locked ops drain)',
  },
} as const;

/** Parameter specs a model can spread into its `params`. */
export const hwParams = {
  dirtySetRechecksPte: {
    default: true,
    doc: 'hw: a write through a clean (D=0) TLB entry re-reads the PTE and faults unless it is still present+writable (x86)',
  },
  dirtySetOnFaultingWrite: {
    default: false,
    doc: 'hw: pre-CET quirk, such a faulting write may still set D in the PTE',
  },
} as const;
