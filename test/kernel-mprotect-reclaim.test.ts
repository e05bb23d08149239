/**
 * Reclaim's batched flush (src/kernel/tlb-batch.ts), mprotect's
 * change_pte_range and its promise (src/kernel/mprotect.ts), the access
 * ghosts behind no-wider-permission and no-dirty-after-harvest
 * (src/hw/ghost.ts, src/hw/access.ts, properties/), and the model built from
 * them (models/mprotect-reclaim.ts): its verdict table and the historic trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { NONE, type ModelDef, type View } from '../src/index.js';
import { access, accessGhostFields, defaultHwOptions, tlbLookup } from '../src/hw/index.js';
import {
  changePteRange,
  flushTlbBatchedPending,
  MM0,
  permissionNarrowed,
  ptepGetAndClear,
  setTlbUbcFlushPending,
  tlbBatchFields,
  tryToUnmapFlush,
  world,
} from '../src/kernel/index.js';
import { noDirtyAfterHarvest, noWiderPermission } from '../properties/index.js';
import mprotectReclaim from '../models/mprotect-reclaim.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const w = world({ N: 3, P: 1, OPS: 2 });
const decl = { ...w.fields, ...accessGhostFields(w.hwShape), ...tlbBatchFields(w.hwShape, w.k) };
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  return s;
};
const noRecheck = { ...defaultHwOptions, dirtySetRechecksPte: false };

describe('reclaim batched flush (tlb_ubc)', () => {
  it('set_tlb_ubc_flush_pending flushes nothing; try_to_unmap_flush flushes every CPU of the gathered mask', () => {
    const s = fresh();
    access(s, 1, 0, 'read', defaultHwOptions);
    ptepGetAndClear(s, MM0, 0, 0);
    setTlbUbcFlushPending(s, 0, MM0, [0]);
    expect([s.tlbFlushBatched[MM0], s.ubcMask[0], s.tlbGen[MM0]]).toEqual([true, 0b111, 1]);
    expect(tlbLookup(s, 1, 0, 0)).not.toBeNull(); // still cached: the flush is batched
    expect(tryToUnmapFlush(s, 0, MM0, w.k, [0])).toBe('try_to_unmap_flush: flush CPU0, CPU1, CPU2');
    expect(tlbLookup(s, 1, 0, 0)).toBeNull();
    expect(s.ubcMask[0]).toBe(0);
    expect(s.flushedUpTo[0]![0]).toBe(1);
  });

  it('flush_tlb_batched_pending flushes the mm only when a batch of it is pending, and clears the flag', () => {
    const s = fresh();
    expect(flushTlbBatchedPending(s, 2, MM0, w.k, [0])).toBe('flush_tlb_batched_pending: none pending');
    access(s, 1, 0, 'read', defaultHwOptions);
    ptepGetAndClear(s, MM0, 0, 0);
    setTlbUbcFlushPending(s, 0, MM0, [0]);
    expect(flushTlbBatchedPending(s, 2, MM0, w.k, [0])).toMatch(/reclaim's flush pending → flush_tlb_mm_range\(mm0 all new_tlb_gen=2\): local flush_tlb_func: full flush.*; CPU0 flush_tlb_func: full flush.*; CPU1 flush_tlb_func: full flush/);
    expect([tlbLookup(s, 1, 0, 0), s.tlbFlushBatched[MM0]]).toEqual([null, false]);
  });
});

describe('change_pte_range', () => {
  it('write-protects a present PTE (same frame, D kept, a new version) and skips a PTE that is not present', () => {
    const s = fresh();
    s.pteDirty[0]![0] = true;
    expect(changePteRange(s, 0, MM0, 0)).toBe(true);
    expect([s.ptePresent[0]![0], s.pteWritable[0]![0], s.pteDirty[0]![0], s.pteFrame[0]![0], s.pteVer[0]![0]]).toEqual([true, false, true, 0, 1]);
    expect(changePteRange(s, 0, MM0, 0)).toBe(false); // already read-only
    ptepGetAndClear(s, MM0, 0, 0);
    expect(changePteRange(s, 0, MM0, 0)).toBe(false);
  });
});

describe('access ghosts', () => {
  const perm = noWiderPermission();
  const dirty = noDirtyAfterHarvest();

  it('no-wider-permission: after PROT_READ returned, an old entry may be read but not written; after PROT_NONE not even read; newer entries are not bound', () => {
    const s = fresh();
    access(s, 1, 0, 'write', defaultHwOptions); // an RW dirty entry from v0
    ptepGetAndClear(s, MM0, 0, 0); // v1: reclaim cleared the PTE (its flush still pending)
    permissionNarrowed(s, 0, [0], 0, 'read');
    access(s, 1, 0, 'read', defaultHwOptions);
    expect(perm.holds(s)).toBe(true);
    access(s, 1, 0, 'write', defaultHwOptions);
    expect([perm.holds(s), s.widerPermUse]).toEqual([false, 1]);

    const t = fresh();
    access(t, 2, 0, 'read', defaultHwOptions);
    permissionNarrowed(t, 0, [0], 0, 'none'); // at v0: entries from v0 are not older than the narrowing
    access(t, 2, 0, 'write', defaultHwOptions);
    expect(t.widerPermUse).toBe(NONE);
    changePteRange(t, 0, MM0, 0);
    permissionNarrowed(t, 0, [0], 0, 'none');
    access(t, 2, 0, 'read', defaultHwOptions);
    expect(t.widerPermUse).toBe(2);
  });

  it("no-dirty-after-harvest: a clean entry's write whose D lands in a cleared PTE is caught; one that re-checks the PTE faults instead", () => {
    const s = fresh();
    access(s, 1, 0, 'read', defaultHwOptions); // a clean RW entry
    ptepGetAndClear(s, MM0, 0, 0);
    expect(access(s, 1, 0, 'write', defaultHwOptions)!.outcome).toBe('fault');
    expect(dirty.holds(s)).toBe(true);

    const t = fresh();
    access(t, 1, 0, 'read', defaultHwOptions);
    ptepGetAndClear(t, MM0, 0, 0);
    expect(access(t, 1, 0, 'write', noRecheck)!.outcome).toBe('ok');
    expect([dirty.holds(t), t.dirtyLost]).toEqual([false, 1]);

    // The same write while the PTE still maps the frame lands D where it belongs.
    const u = fresh();
    access(u, 1, 0, 'read', defaultHwOptions);
    access(u, 1, 0, 'write', noRecheck);
    expect([dirty.holds(u), u.pteDirty[0]![0]]).toEqual([true, true]);
  });

  it('a model that checks the properties without declaring the ghosts gets an error naming the fix', () => {
    const plain = compileLayout(w.fields).makeView();
    w.init(plain);
    expect(() => perm.holds(plain as never)).toThrow(/no-wider-permission needs the access ghosts: add \.\.\.accessGhostFields\(hwShape\)/);
    expect(() => dirty.holds(plain as never)).toThrow(/no-dirty-after-harvest needs the access ghosts/);
    // Without the ghost fields the access block runs as before.
    expect(access(plain as never, 0, 0, 'write', defaultHwOptions)!.outcome).toBe('ok');
  });
});

verdictTableTests([mprotectReclaim as unknown as ModelDef]);

describe('mprotect-reclaim: the race 3ea277194daa closed', () => {
  it('mprotect finds the PTE cleared by reclaim, returns without a flush, and the old RW entry is written through', () => {
    const r = run(mprotectReclaim as unknown as ModelDef, { batchedPending: false });
    const t = r.violations.find((v) => v.invariant === 'no-wider-permission')!.trace;
    const [fill, unmap, mprot, write] = stepsInOrder(t, [
      /user write va0 via page walk/,
      /kswapd: try_to_unmap_one\(va0\): ptep_get_and_clear.*flush batched/,
      /mprotect\(va0, PROT_READ\): change_pte_range: PTE not present, skipped; no PTE changed: no flush; returns/,
      /user write va0 via TLB entry/,
    ]);
    const user = t[fill!]!.cpu;
    expect(t[write!]!.cpu).toBe(user);
    expect(t[unmap!]!.cpu).not.toBe(user);
    expect(t[mprot!]!.cpu).not.toBe(t[unmap!]!.cpu); // kswapd is busy in reclaim
    expect(t.some((st) => /try_to_unmap_flush/.test(st.description))).toBe(false);
  });
});

describe('mprotect-reclaim with the fix: the race is still there to be stopped', () => {
  it('reaches reclaim with its flush batched, an old writable entry cached, and mprotect still to run', () => {
    const window = (s: any) => s.reclaim === 'unmapped' && s.mprotect === 'todo' && s.tlbWritable.some((c: boolean[][], i: number) => s.tlbVer[i][0][0] !== NONE && c[0]![0]);
    expect(reaches(mprotectReclaim as unknown as ModelDef, {}, window)).toBe(true);
  });
});
