/**
 * Locks and page ownership (src/kernel/locks.ts, src/kernel/folio-ref.ts),
 * the mremap PTE move (src/kernel/mremap.ts), and the model built from them
 * (models/mremap-truncate.ts): its verdict table and the CVE-2018-18281 trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { NONE, type ModelDef, type View } from '../src/index.js';
import {
  folioGet,
  folioPut,
  folioRefFields,
  MM0,
  mmapLockFields,
  mmapReadLock,
  mmapReadLockable,
  mmapReadUnlock,
  mmapWriteLock,
  mmapWriteLockable,
  mmapWriteUnlock,
  movePte,
  ptlFields,
  ptlFree,
  ptlHeldBy,
  ptlLock,
  ptlUnlock,
  world,
} from '../src/kernel/index.js';
import mremapTruncate from '../models/mremap-truncate.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const w = world({ N: 3, P: 2, OPS: 2, maps: (_mm, va) => va === 0 });
const decl = { ...w.fields, ...ptlFields(w.hwShape), ...mmapLockFields(w.k), ...folioRefFields(w.hwShape, 3) };
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  return s;
};

describe('PTL and mmap_lock', () => {
  it('the PTL has one holder; taking it while held or releasing it unheld is a model error', () => {
    const s = fresh();
    ptlLock(s, 1, 0);
    expect([ptlFree(s, 0), ptlHeldBy(s, 0, 1)]).toEqual([false, true]);
    expect(() => ptlLock(s, 2, 0)).toThrow(/CPU2 takes the PTL of PT page 0, held by CPU1/);
    expect(() => ptlUnlock(s, 2, 0)).toThrow(/CPU2 releases the PTL of PT page 0, which it does not hold/);
    ptlUnlock(s, 1, 0);
    expect(s.ptlOwner[0]).toBe(NONE);
  });

  it('mmap_lock: readers share it, a writer excludes everyone', () => {
    const s = fresh();
    mmapReadLock(s, 0, MM0);
    mmapReadLock(s, 1, MM0);
    expect([mmapReadLockable(s, MM0), mmapWriteLockable(s, MM0)]).toEqual([true, false]);
    expect(() => mmapWriteLock(s, 2, MM0)).toThrow(/for write while it is held/);
    mmapReadUnlock(s, 0, MM0);
    mmapReadUnlock(s, 1, MM0);
    mmapWriteLock(s, 2, MM0);
    expect(mmapReadLockable(s, MM0)).toBe(false);
    expect(() => mmapReadLock(s, 0, MM0)).toThrow(/while CPU2 holds it for write/);
    expect(() => mmapWriteUnlock(s, 0, MM0)).toThrow(/without holding it/);
    mmapWriteUnlock(s, 2, MM0);
    expect(mmapWriteLockable(s, MM0)).toBe(true);
  });
});

describe('folio references', () => {
  it('the last folio_put frees the frame; a put with no reference left is an error', () => {
    const s = fresh();
    s.pageRefs[0] = 1;
    folioGet(s, 0);
    expect([folioPut(s, 0), s.frameFreed[0]]).toEqual([false, false]);
    expect([folioPut(s, 0), s.frameFreed[0]]).toEqual([true, true]);
    expect(() => folioPut(s, 0)).toThrow(/folio_put of pfn0 with no reference left/);
  });
});

describe('move_ptes', () => {
  it('clears the old PTE and maps the same frame, D kept, at the new address; nothing to move is NONE', () => {
    const s = fresh();
    expect([s.ptePresent[0]![0], s.ptePresent[0]![1]]).toEqual([true, false]); // world({ maps }) left va1 unmapped
    s.pteDirty[0]![0] = true;
    expect(movePte(s, 0, MM0, 0, 1)).toEqual({ frame: 0, dirty: true });
    expect([s.ptePresent[0]![0], s.ptePresent[0]![1], s.pteFrame[0]![1], s.pteDirty[0]![1], s.pteWritable[0]![1]]).toEqual([false, true, 0, true, true]);
    expect([s.pteVer[0]![0], s.pteVer[0]![1]]).toEqual([1, 1]);
    expect(movePte(s, 0, MM0, 0, 1)).toEqual({ frame: NONE, dirty: false });
  });
});

verdictTableTests([mremapTruncate as unknown as ModelDef]);

describe('mremap-truncate: CVE-2018-18281, closed by eb66ae030829', () => {
  it('mremap drops the PTL before flushing va0; truncate zaps va1, flushes va1 and frees the page; the old va0 entry reads it', () => {
    const r = run(mremapTruncate as unknown as ModelDef, { flushUnderPtl: false });
    const t = r.violations.find((v) => v.invariant === 'no-use-after-free')!.trace;
    const [fill, move, unlock, zap, free, read] = stepsInOrder(t, [
      /user read va0 via page walk/,
      /mremap\(va0 → va1\): .*move_ptes: lock PTL, ptep_get_and_clear\(va0\) \(D=0\)/,
      /mremap: clean PTE, flush deferred: unlock PTL \(va0 not flushed yet\)/,
      /ftruncate: unmap_mapping_range finds pfn0 at va1/,
      /flush_tlb_mm_range\(mm0 va1 .*pfn0 FREED/,
      /user read va0 via TLB entry .*frame already FREED/,
    ]);
    expect(t[read!]!.cpu).toBe(t[fill!]!.cpu);
    expect(t[unlock!]!.cpu).toBe(t[move!]!.cpu);
    expect(t[zap!]!.cpu).toBe(t[free!]!.cpu);
    expect(t[zap!]!.cpu).not.toBe(t[move!]!.cpu);
    expect(t.slice(0, read!).some((st) => /mremap: flush_tlb_mm_range/.test(st.description))).toBe(false);
  });
});

describe('mremap-truncate with the fix: the race is still there to be stopped', () => {
  it('reaches the window: the PTE moved to va1, a TLB still maps va0, mremap holds the PTL', () => {
    const m = mremapTruncate as unknown as ModelDef;
    const window = (s: any) => s.ptePresent[0][1] && s.pteFrame[0][1] === 0 && s.ptlOwner[0] !== NONE && s.tlbVer.some((c: number[][]) => c[0]![0] !== NONE);
    expect(reaches(m, {}, window)).toBe(true);
    // ... and truncate can zap the page at its new address once the lock is free.
    expect(reaches(m, {}, (s) => s.truncVa === 1)).toBe(true);
  });

  it('before the fix a dirty PTE was still flushed under the PTL (force_flush), a clean one after the unlock', () => {
    const m = mremapTruncate as unknown as ModelDef;
    expect(reaches(m, { flushUnderPtl: false }, (s) => s.pc.includes('mremap-flushed'))).toBe(true);
    expect(reaches(m, { flushUnderPtl: false }, (s) => s.pc.includes('mremap-unlocked'))).toBe(true);
    expect(reaches(m, { flushUnderPtl: false }, (s) => s.pc.includes('mremap-unlocked') && s.forceFlush)).toBe(false);
  });
});
