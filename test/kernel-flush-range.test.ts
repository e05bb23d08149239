/**
 * The generic one-step flushes of src/kernel/flush.ts: flush_tlb_mm_range()
 * from any context with a range, a stride and the ceiling, should_flush_tlb()
 * and freed_tables, the pre-tlb_gen variant, flush_tlb_page() and
 * flush_tlb_kernel_range(); and the multi-step flush in its pre-tlb_gen form.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { array, bits, enumOf, type ModelDef, type View } from '../src/index.js';
import { access, defaultHwOptions, pteRead, pteStore, tlbFill, tlbLookup } from '../src/hw/index.js';
import {
  csdAllUnlocked,
  csdQueue,
  flushPages,
  flushTargets,
  flushTlbKernelRange,
  flushTlbMmRange,
  flushTlbPage,
  LOADED_MM_SWITCHING,
  localFlushFirst,
  MM0,
  preGenFlushTargets,
  readFlushInfo,
  syncFlushIpi,
  unmapOpFields,
  unmapZap,
  world,
  writeFlushInfo,
  type CpuStart,
} from '../src/kernel/index.js';
import lazyModel from '../models/lazy.js';
import { reaches } from './helpers/model-tables.js';

const make = (start?: (c: number) => CpuStart, P = 4) => {
  const w = world({ N: 3, P, OPS: 1, start });
  const s = compileLayout(w.fields).makeView() as View<typeof w.fields>;
  w.init(s);
  // Every CPU on mm0 caches every page.
  for (let c = 0; c < 3; c++) if (s.loadedMm[c] === MM0) for (let va = 0; va < P; va++) access(s, c, va, 'read', defaultHwOptions);
  return { w, s };
};
const cached = (s: View<ReturnType<typeof world>['fields']>, c: number) => [0, 1, 2, 3].map((va) => tlbLookup(s, c, 0, va) !== null);

describe('flush_tlb_mm_range (one step, any initiator)', () => {
  it('flushes the range on every CPU of the mask, by stride; tlb_gen moves once; the ghost covers just the range', () => {
    expect(flushPages({ va: 0, vaEnd: 4, stride: 2 })).toEqual([0, 2]);
    const { w, s } = make();
    for (let va = 0; va < 4; va++) pteStore(s, 0, va, { ...pteRead(s, 0, va), writable: false }); // every PTE at version 1
    const r = flushTlbMmRange(s, 0, { mm: MM0, va: 0, vaEnd: 4, stride: 2, freedTables: false }, w.k, [0]);
    expect(r).toMatch(/^flush_tlb_mm_range\(mm0 va0\.\.va2 stride 2 new_tlb_gen=1\): local flush_tlb_func: INVLPG va0\.\.va2 stride 2/);
    for (const c of [0, 1, 2]) expect(cached(s, c)).toEqual([false, true, false, true]);
    expect(s.tlbGen[MM0]).toBe(1);
    expect([...s.flushedUpTo[0]!]).toEqual([1, 0, 1, 0]); // only the pages flushed: the old entries of va1, va3 are still alive
  });

  it('a bad stride, or a range handed to a flush split over steps, is a model error, not a silent one-page flush', () => {
    expect(() => flushPages({ va: 0, vaEnd: 2, stride: 0 })).toThrow(/stride 0 \(must be an integer >= 1\)/);
    const { s } = make();
    expect(() => writeFlushInfo(s, 0, { mm: MM0, va: 0, vaEnd: 2, newGen: 1, freedTables: false })).toThrow(/writeFlushInfo: the flush covers va0\.\.va1, but a flush split over steps holds one page/);
    writeFlushInfo(s, 0, { mm: MM0, va: 1, vaEnd: 2, newGen: 1, freedTables: false });
  });

  it('a range above the ceiling is a whole-mm flush', () => {
    const { w, s } = make();
    expect(flushTlbMmRange(s, 1, { mm: MM0, va: 0, vaEnd: 2, freedTables: false }, w.k, [0], { ceiling: 1 })).toMatch(/\(over the ceiling: whole mm\)/);
    for (const c of [0, 1, 2]) expect(cached(s, c)).toEqual([false, false, false, false]);
  });

  it('from a kernel thread on init_mm: no local flush, the IPIs go to the mask', () => {
    const { w, s } = make((c) => (c === 2 ? 'init_mm' : { mm: MM0 }));
    const r = flushTlbPage(s, 2, MM0, 1, w.k, [0]);
    expect(r).toBe('flush_tlb_mm_range(mm0 va1 new_tlb_gen=1): CPU0 flush_tlb_func: INVLPG va1, tlb_gen 0→1; CPU1 flush_tlb_func: INVLPG va1, tlb_gen 0→1');
  });

  it('should_flush_tlb skips a lazy CPU (it catches up through tlb_gen); with freed_tables it is IPI\'d and leaves for init_mm', () => {
    const { w, s } = make();
    s.isLazy[1] = true;
    flushTlbMmRange(s, 0, { mm: MM0, va: 0, freedTables: false }, w.k, [0]);
    expect([cached(s, 1)[0], s.ctxTlbGen[1]![0]]).toEqual([true, 0]);
    flushTlbMmRange(s, 0, { mm: MM0, va: 0, freedTables: true }, w.k, [0]);
    expect(s.loadedMm[1]).toBe(w.INIT_MM);
    // A CPU in the switch window is IPI'd (mainline) or skipped (before fea4e317f9e7).
    const t = make().s;
    t.loadedMm[1] = LOADED_MM_SWITCHING;
    expect(flushTlbMmRange(t, 0, { mm: MM0, va: 0, freedTables: false }, w.k, [0], { switchingIpi: false })).not.toMatch(/CPU1/);
  });

  it('a lazy initiator (a kernel thread that kept mm0) is not flushed itself: should_flush_tlb applies to it too', () => {
    const { w, s } = make((c) => (c === 2 ? { mm: MM0, lazy: true } : { mm: MM0 }));
    const r = flushTlbMmRange(s, 2, { mm: MM0, va: 0, freedTables: false }, w.k, [0]);
    expect(r).not.toMatch(/local/);
    expect([s.loadedMm[2], s.isLazy[2]]).toEqual([MM0, true]);
  });

  it('pre-tlb_gen: every CPU of the mask flushes unconditionally, a lazy one calls leave_mm and drops out of the mask; no generation moves', () => {
    const { w, s } = make();
    s.isLazy[2] = true;
    const r = flushTlbMmRange(s, 0, { mm: MM0, va: 3, freedTables: false }, w.k, [0], { preGen: true });
    expect(r).toMatch(/CPU1 flush_tlb_func: INVLPG va3; CPU2 flush_tlb_func: lazy → leave_mm: clear mm_cpumask bit/);
    expect([cached(s, 1)[3], bits.has(s.mmCpumask[MM0], 2), s.loadedMm[2], s.tlbGen[MM0], s.ctxTlbGen[1]![0]]).toEqual([false, false, w.INIT_MM, 0, 0]);
  });
});

describe('flush_tlb_kernel_range', () => {
  it('INVLPG on each CPU whatever it runs (global entries of the address too), except the skipped ones; above the ceiling a global flush', () => {
    const { s } = make((c) => (c === 2 ? 'init_mm' : { mm: MM0 }), 2);
    const kernelEntry = { ver: 0, table: 0, frame: 0, writable: true, dirty: false, global: true };
    for (const c of [0, 1, 2]) tlbFill(s, c, 0, 1, kernelEntry);
    expect(flushTlbKernelRange(s, [1], { skip: (c) => c === 1 })).toBe('flush_tlb_kernel_range(va1): on_each_cpu INVLPG on CPU0, CPU2');
    expect([0, 1, 2].map((c) => tlbLookup(s, c, 0, 1) !== null)).toEqual([false, true, false]);
    expect(flushTlbKernelRange(s, [0, 1], { ceiling: 1, invpcid: false })).toMatch(/__flush_tlb_all on CPU0, CPU1, CPU2/);
    expect([0, 1, 2].map((c) => tlbLookup(s, c, 0, 0) !== null || tlbLookup(s, c, 0, 1) !== null)).toEqual([false, false, false]);
  });
});

describe('the multi-step flush before tlb_gen (localFlushFirst / syncFlushIpi with preGen, models/lazy.ts preGen)', () => {
  const w = world({ N: 3, P: 1, OPS: 1, start: (c) => ({ mm: MM0, lazy: c === 2 }) });
  const decl = { ...w.fields, ...unmapOpFields(w.hwShape, 1), pc: array(w.CPU, enumOf(['user', 'zapped', 'local-flushed', 'waiting', 'returned'])) };
  type D = typeof decl;
  const fresh = () => {
    const s = compileLayout(decl).makeView() as View<D>;
    w.init(s);
    for (let c = 0; c < 3; c++) access(s, c, 0, 'read', defaultHwOptions);
    return s;
  };

  it('the local step flushes without a generation; the IPI targets are the rest of the mask, lazy CPUs too; a lazy target leaves the mm', () => {
    const s = fresh();
    unmapZap(s, 0, MM0, 0, false);
    s.pc[0] = 'zapped';
    const local = localFlushFirst<D>(w.CPU, w.k, [0], { preGen: true }).flush_tlb_mm_range;
    expect(local.describe!(s, 0)).toBe('flush_tlb_mm_range(mm0 va0): local flush_tlb_func: INVLPG va0');
    local.effect(s, 0);
    expect([s.pc[0], s.tlbGen[MM0], tlbLookup(s, 0, 0, 0)]).toEqual(['local-flushed', 0, null]);
    const targets = preGenFlushTargets(s, 0, MM0);
    expect(targets).toBe(0b110);
    expect(flushTargets(s, 0, readFlushInfo(s, 0), { ipiLazyOnFreedTables: true })).toBe(0b010); // mainline skips the lazy CPU
    csdQueue(s, 0, targets);
    const ipi = syncFlushIpi<D>(w.CPU, w.k, { preGen: true }).flush_ipi;
    expect(ipi.describe!(s, 2, 0)).toMatch(/^IPI from CPU0: flush_tlb_func: lazy → leave_mm: clear mm_cpumask bit, switch_mm\(init_mm\)/);
    ipi.effect(s, 2, 0);
    ipi.effect(s, 1, 0);
    expect([s.loadedMm[2], bits.has(s.mmCpumask[MM0], 2), tlbLookup(s, 1, 0, 0), s.ctxTlbGen[1]![0]]).toEqual([w.INIT_MM, false, null, 0]);
    expect(csdAllUnlocked(s, 0)).toBe(true);
  });

  it('lazy model: before tlb_gen a lazy CPU leaves the mm through a flush even when no table is freed; tlb_gen never moves', () => {
    const m = lazyModel as unknown as ModelDef;
    const leftMm = (s: any) => s.pc.some((x: string, c: number) => x === 'kthread' && s.loadedMm[c] === 1);
    expect(reaches(m, { preGen: true, freeTables: false }, leftMm)).toBe(true);
    expect(reaches(m, { preGen: true }, (s) => s.tlbGen[0] > 0)).toBe(false);
  });
});
