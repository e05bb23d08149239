/**
 * arm64 TLBI ...IS and DSB ISH (src/hw/arm64/tlbi.ts, Arm ARM D8 TLB
 * maintenance) as litmus tests, the range-op loop of __flush_tlb_range_op(),
 * the arm64 tlb_flush() (src/kernel/arm64/flush.ts), and the model built on
 * them (models/arm64-free-pgtables.ts).
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { NONE, type ModelDef, type View } from '../src/index.js';
import { bcArrive, dsbIshDone, tlbiArriveAction, tlbiFields, tlbiIs, tlbiRangeOps, tlbiRangePages, tlbLookup, walk } from '../src/hw/index.js';
import { arm64TlbFlushIssue, MM0, world } from '../src/kernel/index.js';
import arm64FreePgtables from '../models/arm64-free-pgtables.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const w = world({ N: 2, P: 4, OPS: 1, pmds: 2 });
const decl = { ...w.fields, ...tlbiFields(w.hwShape) };
/** Both PEs have walked every page: leaves and both walk-cache entries cached. */
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  for (const c of [0, 1]) for (let va = 0; va < 4; va++) walk(s, c, va);
  return s;
};
const leaf = (s: View<typeof decl>, c: number, va: number) => tlbLookup(s, c, 0, va) !== null;

describe('TLBI ...IS and DSB ISH', () => {
  it('VAE1IS drops the leaf and the walk entry used for the address on every PE, once it reaches it; other walk entries stay', () => {
    const s = fresh();
    expect(tlbiIs(s, 0, 0, [{ kind: 'page', va: 0 }], false)).toBe('TLBI VAE1IS va0');
    expect([leaf(s, 1, 0), dsbIshDone(s, 0)]).toEqual([true, false]);
    bcArrive(s, 0, 1, 'TLBI');
    expect([leaf(s, 1, 0), leaf(s, 1, 1), s.psc[1]![0]]).toEqual([false, true, [NONE, 1]]);
    bcArrive(s, 0, 0, 'TLBI');
    expect(dsbIshDone(s, 0)).toBe(true);
  });

  it('VALE1IS (last level) keeps the walk cache', () => {
    const s = fresh();
    tlbiIs(s, 0, 0, [{ kind: 'page', va: 2 }], true);
    bcArrive(s, 0, 1, 'TLBI');
    expect([leaf(s, 1, 2), s.psc[1]![0]]).toEqual([false, [0, 1]]);
  });

  it('the TLBIs before one DSB form one batch; DSB ISH waits for them on every PE, its own ones only', () => {
    const s = fresh();
    tlbiIs(s, 0, 0, [{ kind: 'page', va: 0 }], false);
    tlbiIs(s, 0, 0, [{ kind: 'page', va: 3 }], false);
    expect(() => tlbiIs(s, 0, 0, [{ kind: 'page', va: 1 }], true)).toThrow(/CPU0 issues TLBI of another kind into its batch in flight/);
    expect(dsbIshDone(s, 1)).toBe(true); // PE1 has issued nothing: its DSB waits for nothing
    const a = tlbiArriveAction<typeof decl>(w.hwShape);
    expect(a.describe!(s, 1, 0)).toBe('TLBI from CPU0 done here: ASID 0 va0,va3 and their walk-cache entries');
    a.effect(s, 1, 0);
    expect([leaf(s, 1, 0), leaf(s, 1, 3), s.psc[1]![0]]).toEqual([false, false, [NONE, NONE]]);
  });

  it('a TLBI cannot join a batch some PE has already done; a TLBI by VA drops a global entry too', () => {
    const s = fresh();
    tlbiIs(s, 0, 0, [{ kind: 'page', va: 0 }], false);
    bcArrive(s, 0, 1, 'TLBI');
    expect(() => tlbiIs(s, 0, 0, [{ kind: 'page', va: 1 }], false)).toThrow(/CPU0 adds TLBI to a batch some CPU has already done/);
    const g = fresh();
    g.tlbGlobal[1]![0]![2] = true;
    tlbiIs(g, 0, 0, [{ kind: 'page', va: 2 }], true);
    bcArrive(g, 0, 1, 'TLBI');
    expect(leaf(g, 1, 2)).toBe(false);
  });

  it('__flush_tlb_range_op: an odd page alone, the rest in range ops of (NUM+1)·2^(5·SCALE+1) pages; one page at a time without FEAT_TLBIRANGE', () => {
    expect(tlbiRangePages(0, 0)).toBe(2);
    expect(tlbiRangePages(31, 1)).toBe(2048);
    expect(tlbiRangeOps(0, 3, true)).toEqual([{ kind: 'page', va: 0 }, { kind: 'range', va: 1, num: 0, scale: 0 }]);
    expect(tlbiRangeOps(0, 66, true)).toEqual([{ kind: 'range', va: 0, num: 0, scale: 0 }, { kind: 'range', va: 2, num: 0, scale: 1 }]);
    expect(tlbiRangeOps(4, 2, false)).toEqual([{ kind: 'page', va: 4 }, { kind: 'page', va: 5 }]);
  });

  it('tlb_flush: last_level = !freed_tables', () => {
    const s = fresh();
    expect(arm64TlbFlushIssue(s, 0, { mm: MM0, va: 0, vaEnd: 2, freedTables: true }, { asid: 0, rangeSupported: true })).toBe(
      'tlb_flush: last_level=0 (freed_tables); dsb(ishst); TLBI RVAE1IS va0 (NUM 0, SCALE 0: 2 pages)',
    );
    expect(arm64TlbFlushIssue(fresh(), 0, { mm: MM0, va: 1, freedTables: false }, { asid: 0, rangeSupported: true })).toBe('tlb_flush: last_level=1; dsb(ishst); TLBI VALE1IS va1');
  });
});

verdictTableTests([arm64FreePgtables as unknown as ModelDef]);

describe('arm64-free-pgtables', () => {
  const m = arm64FreePgtables as unknown as ModelDef;

  it('with last-level TLBIs the walk cache keeps the freed table and the next walk reads it', () => {
    const t = run(m, { leafOnlyAlways: true }).violations.find((v) => v.invariant === 'no-freed-table-walk')!.trace;
    const [cache, , tlbi, , free, walkIn] = stepsInOrder(t, [
      /speculative walk va\d via PMD → PT page 0: PTE not present \(PSC filled\)/,
      /free_pgtables: free_pte_range: pmd_clear \(PT page 0\)/,
      /tlb_flush: last_level=1 \(freed_tables\); dsb\(ishst\); TLBI RVALE1IS va0/,
      /TLBI from CPU0 done here: .*walk cache kept/,
      /dsb\(ish\): every PE has done the TLBIs; .*free pfn0; free pfn1; free PT page 0/,
      /speculative walk va\d via cached PMD → PT page 0: reads FREED page-table page/,
    ]);
    expect(t[walkIn!]!.cpu).toBe(t[cache!]!.cpu);
    expect([tlbi, free].map((i) => t[i!]!.cpu)).toEqual([0, 0]);
  });

  it('with the fix the window is there: the table unhooked, freed_tables, a PE still caching it while the TLBI is in flight', () => {
    expect(reaches(m, {}, (s) => s.pmd[0][0] === NONE && s.bcPending[0] !== 0 && s.psc.some((c: number[][]) => c[0]![0] === 0))).toBe(true);
    expect(reaches(m, {}, (s) => s.tableFreed[0] && s.psc.some((c: number[][]) => c[0]![0] === 0))).toBe(false);
  });
});
