/**
 * The file rmap (src/kernel/rmap.ts), tlb_end_vma() and VM_PFNMAP zaps
 * (src/kernel/mmu-gather.ts), world({ frame }), the per-CPU program step
 * (src/engine/program.ts), and the model built from them
 * (models/pfnmap-unmap.ts): its verdict table and the CVE-2022-39188 trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { array, enumOf, NONE, pcStep, sort, type ModelDef, type View } from '../src/index.js';
import {
  iMmapReadLockable,
  iMmapWriteLockable,
  MM0,
  mmuGatherFields,
  nextLinkedVma,
  rmapAdvance,
  rmapFields,
  rmapVma,
  tlbEndVma,
  tlbGatherMmu,
  tlbZapPte,
  unlinkFileVma,
  unmapMappingRangeEnd,
  unmapMappingRangeStart,
  world,
  type FlushInfo,
  type Vma,
} from '../src/kernel/index.js';
import pfnmapUnmap from '../models/pfnmap-unmap.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const vmas: Vma[] = [
  { mm: 0, va: 0, pfnmap: true },
  { mm: 0, va: 1, pfnmap: true },
  { mm: 1, va: 0, pfnmap: true },
];
const w = world({ N: 3, P: 2, OPS: 2, userMms: 2, frame: () => 0 });
const decl = { ...w.fields, ...mmuGatherFields(w.hwShape), ...rmapFields(w.hwShape, vmas) };
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  return s;
};

describe('world({ frame })', () => {
  it('maps every page of every mm to the frame it names; pages are then not interchangeable', () => {
    const s = fresh();
    expect([s.pteFrame[0]![0], s.pteFrame[0]![1], s.pteFrame[1]![0], s.pteFrame[1]![1]]).toEqual([0, 0, 0, 0]);
    expect(w.PAGE.symmetric).toBe(false);
    expect(world({ N: 2, P: 2, OPS: 1 }).PAGE.symmetric).toBe(true);
  });

  it('a frame outside the pool is an error when the world is built', () => {
    expect(() => world({ N: 2, P: 1, OPS: 1, frame: () => 1 })).toThrow(/world: mm0 va0 starts on pfn1, but the frames are pfn0\.\.pfn0/);
  });
});

describe('i_mmap: unlink_file_vma and the unmap_mapping_range walk', () => {
  it('the walk visits the linked VMAs in order and skips an unlinked one', () => {
    const s = fresh();
    expect(unlinkFileVma(s, 0, 1)).toMatch(/unlink_file_vma\(VMA 1\)/);
    expect(s.vmaLinked).toEqual([true, false, true]);
    expect(unmapMappingRangeStart(s, 2)).toBe('unmap_mapping_range: i_mmap_lock_read; i_mmap holds VMA 0, VMA 2');
    expect(rmapVma(s, 2, vmas)).toEqual(vmas[0]);
    rmapAdvance(s, 2);
    expect(rmapVma(s, 2, vmas)).toEqual(vmas[2]);
    rmapAdvance(s, 2);
    expect(s.rmapNext[2]).toBe(NONE);
    expect(() => rmapVma(s, 2, vmas)).toThrow(/CPU2 has no VMA left/);
    expect(unmapMappingRangeEnd(s, 2)).toMatch(/i_mmap_unlock_read; returns/);
    expect([iMmapReadLockable(s), iMmapWriteLockable(s)]).toEqual([true, true]);
  });

  it('a reader keeps unlinking out; the set the walk sees cannot change under it', () => {
    const s = fresh();
    unmapMappingRangeStart(s, 1);
    expect([iMmapReadLockable(s), iMmapWriteLockable(s)]).toEqual([true, false]);
    expect(() => unlinkFileVma(s, 0, 0)).toThrow(/CPU0 takes i_mmap_rwsem for write while it is held/);
    expect(() => unmapMappingRangeEnd(s, 1)).toThrow(/CPU1 ends unmap_mapping_range with VMA 0 still to visit/);
  });

  it('with nothing linked the walk is done at once; unlinking twice is a model error', () => {
    const s = fresh();
    [0, 1, 2].forEach((v) => unlinkFileVma(s, 0, v));
    expect(nextLinkedVma(s, -1)).toBe(NONE);
    expect(unmapMappingRangeStart(s, 1)).toMatch(/i_mmap holds no VMA/);
    expect(() => unlinkFileVma(s, 0, 0)).toThrow(/i_mmap_rwsem for write while it is held/);
    unmapMappingRangeEnd(s, 1);
    expect(() => unlinkFileVma(s, 0, 0)).toThrow(/CPU0 unlinks VMA 0, which is not in i_mmap/);
  });
});

describe('VM_PFNMAP zaps and tlb_end_vma()', () => {
  const recorder = () => {
    const calls: FlushInfo[] = [];
    return { calls, flush: (_c: number, f: FlushInfo) => (calls.push(f), `flush va${f.va}`) };
  };

  it('a VM_PFNMAP zap gathers the range but batches no page (the frame is the driver\'s)', () => {
    const s = fresh();
    tlbGatherMmu(s, 0, MM0);
    expect(tlbZapPte(s, 0, 0, { pfnmap: true })).toMatch(/VM_PFNMAP: no page to batch/);
    expect([s.gatherVa[0], s.gatherFrames[0]!.includes(true), s.ptePresent[0]![0]]).toEqual([0, false, false]);
    tlbGatherMmu(s, 1, MM0);
    tlbZapPte(s, 1, 1);
    expect([s.gatherVa[1], s.gatherFrames[1]![0]]).toEqual([1, true]);
  });

  it('with the fix, tlb_end_vma flushes a VM_PFNMAP range and resets it; before it, and for other VMAs, it does nothing', () => {
    const s = fresh();
    tlbGatherMmu(s, 0, MM0);
    tlbZapPte(s, 0, 0, { pfnmap: true });
    const before = recorder();
    expect(tlbEndVma(s, 0, { pfnmap: true, forcePfnFlush: false, flush: before.flush })).toBe('tlb_end_vma: no-op (before b67fbebd4cf9)');
    expect(tlbEndVma(s, 0, { pfnmap: false, forcePfnFlush: true, flush: before.flush })).toBe('tlb_end_vma: no-op (MMU_GATHER_MERGE_VMAS)');
    expect([before.calls.length, s.gatherVa[0]]).toEqual([0, 0]);
    const fixed = recorder();
    expect(tlbEndVma(s, 0, { pfnmap: true, forcePfnFlush: true, flush: fixed.flush })).toBe('tlb_end_vma: VM_PFNMAP, tlb_flush_mmu_tlbonly: flush va0');
    expect(fixed.calls).toEqual([{ mm: MM0, va: 0, newGen: 0, freedTables: false }]);
    expect(s.gatherVa[0]).toBe(NONE);
    expect(tlbEndVma(s, 0, { pfnmap: true, forcePfnFlush: true, flush: fixed.flush })).toBe('tlb_end_vma: VM_PFNMAP, range empty: no flush');
    expect(fixed.calls.length).toBe(1);
  });
});

describe('pcStep', () => {
  const CPU = sort('cpu', 2, { role: 'cpu' });
  const state = { pc: array(CPU, enumOf(['a', 'b'])) };
  type S = typeof state;
  const view = () => compileLayout(state).makeView() as View<S>;

  it('is enabled at `from` when `when` holds, runs the body, moves to `to`; the phrase does not change the state', () => {
    let ran = 0;
    const st = pcStep<S>(CPU, 'a', 'b', () => `ran ${++ran}`, { when: (_s, c) => c === 1 });
    const s = view();
    expect([st.guard!(s, 0), st.guard!(s, 1)]).toEqual([false, true]);
    expect(st.describe!(s, 1)).toBe('ran 1');
    expect(s.pc[1]).toBe('a');
    st.effect(s, 1);
    expect([s.pc[1], ran, st.guard!(s, 1)]).toEqual(['b', 2, false]);
  });
});

verdictTableTests([pfnmapUnmap as unknown as ModelDef]);

describe('pfnmap-unmap: CVE-2022-39188, closed by b67fbebd4cf9', () => {
  it('munmap unlinks the VMA before it flushes; the driver finds no VMA, frees the frame, and its CPU reads it through the old entry', () => {
    const r = run(pfnmapUnmap as unknown as ModelDef, { pfnFlush: false });
    const t = r.violations.find((v) => v.invariant === 'no-use-after-free')!.trace;
    const [fill, zap, endVma, unlink, walk, free, read] = stepsInOrder(t, [
      /user read va0 via page walk/,
      /unmap_vmas: zap_pte_range va0: ptep_get_and_clear .*VM_PFNMAP: no page to batch/,
      /tlb_end_vma: no-op \(before b67fbebd4cf9\)/,
      /free_pgtables: unlink_file_vma\(VMA 0\)/,
      /unmap_mapping_range: i_mmap_lock_read; i_mmap holds no VMA/,
      /the driver frees pfn0/,
      /user read va0 via TLB entry .*frame already FREED/,
    ]);
    expect(t[read!]!.cpu).toBe(t[fill!]!.cpu);
    expect(t[walk!]!.cpu).toBe(t[free!]!.cpu);
    expect([zap, endVma, unlink].map((i) => t[i!]!.cpu)).toEqual([t[zap!]!.cpu, t[zap!]!.cpu, t[zap!]!.cpu]);
    expect(t[zap!]!.cpu).not.toBe(t[walk!]!.cpu);
    expect(t.slice(0, read!).some((st) => /flush_tlb_mm_range/.test(st.description))).toBe(false);
  });

  it('munmap is called by a thread of the process that maps va0, not by the second process', () => {
    const m = pfnmapUnmap as unknown as ModelDef;
    expect(reaches(m, { VMAS: 2, N: 3 }, (s) => s.pc[2] === 'munmap')).toBe(false);
    expect(reaches(m, { VMAS: 2, N: 3 }, (s) => s.pc[2] === 'rmap')).toBe(true); // the driver ioctl may come from either
  });

  it('with the fix the race is still there to be stopped: the walk can find the VMA gone, and can find it linked mid-munmap', () => {
    const m = pfnmapUnmap as unknown as ModelDef;
    expect(reaches(m, {}, (s) => s.pc.includes('rmap') && !s.vmaLinked[0] && s.tlbVer.some((c: number[][]) => c[0]![0] !== NONE))).toBe(false);
    expect(reaches(m, {}, (s) => s.pc.includes('rmap') && !s.vmaLinked[0])).toBe(true);
    // Found linked with munmap's gather open: the driver's zap sees tlb_flush_pending 2 (mm_tlb_flush_nested).
    expect(reaches(m, {}, (s) => s.pc.includes('rmap-zapped') && s.tlbFlushPending[0] === 2)).toBe(true);
  });
});
