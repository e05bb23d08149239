/** Linux x86 TLB-flush building blocks (arch/x86/mm/tlb.c, kernel/smp.c, mm/). */
export * from './shape.js';
export * from './mm.js';
export * from './tlbstate.js';
export * from './pgtable.js';
export * from './switch.js';
export * from './flush.js';
export * from './smp.js';
export * from './free.js';
export * from './unmap.js';
export * from './world.js';
export * from './pti.js';
export * from './munmap-steps.js';
export * from './text-poke.js';
export * from './mmu-gather.js';
export * from './table-free.js';
export * from './gup-fast.js';
export * from './context-switch.js';
