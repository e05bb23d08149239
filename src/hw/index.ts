/** x86 hardware building blocks: what a CPU may cache, when, and what drops it. */
export * from './shape.js';
export * from './options.js';
export * from './store-buffer.js';
export * from './pagetable.js';
export * from './pte-global.js';
export * from './tlb.js';
export * from './cpu.js';
export * from './cr4.js';
export * from './ghost.js';
export * from './invalidate.js';
export * from './walk.js';
export * from './access.js';
export * from './nmi.js';
export * from './efer.js';
export * from './invlpgb.js';
export * from './broadcast-inval.js';
export * from './arm64/tlbi.js';
