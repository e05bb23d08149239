/**
 * AMD INVLPGB/TLBSYNC (src/hw/invlpgb.ts, AMD APM Vol. 3) as litmus tests:
 * what each CPU may still hold after which step. And the broadcast flush
 * (src/kernel/broadcast.ts) and the model built on both
 * (models/invlpgb-collapse.ts).
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { cpus, NONE, sort, type ModelDef, type View } from '../src/index.js';
import {
  cpuFields,
  eferFields,
  ghostFields,
  invlpgb,
  invlpgbArrive,
  invlpgbArriveAction,
  invlpgbFields,
  invlpgbIdle,
  pageTableFields,
  pmdInit,
  pteInit,
  tlbFields,
  tlbFill,
  tlbLookup,
  walk,
  type HwShape,
  type HwView,
} from '../src/hw/index.js';
import { broadcastTlbFlushIssue, broadcastTlbSync, broadcastTlbSyncDone, mmFields, MM0 } from '../src/kernel/index.js';
import invlpgbCollapse from '../models/invlpgb-collapse.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const sh: HwShape = { CPU: cpus(3), PAGE: sort('page', 4, { symmetric: false }), roots: 1, tables: 2, frames: 4, pcids: 2, versions: 1, pmds: 2 };
const decl = { ...pageTableFields(sh), ...tlbFields(sh), ...cpuFields(sh), ...ghostFields(sh), ...eferFields(sh), ...invlpgbFields(sh), ...mmFields({ CPU: sh.CPU, PAGE: sh.PAGE, mms: 1, asids: 1, maxGen: 2 }) };
type S = HwView & View<typeof decl>;

/** Every CPU on root 0, PCID 0, has walked va0 and va2 (leaves and both PMDs cached); CPU2 also has a global entry for va1 and a PCID 1 entry for va0. */
function fresh(tce = false): S {
  const s = compileLayout(decl).makeView() as unknown as S;
  pmdInit(s, 0, 0, 0);
  pmdInit(s, 0, 1, 1);
  for (let va = 0; va < 4; va++) pteInit(s, va < 2 ? 0 : 1, va, va);
  for (let c = 0; c < 3; c++) {
    s.eferTce[c] = tce;
    walk(s, c, 0);
    walk(s, c, 2);
  }
  tlbFill(s, 2, 0, 1, { ver: 0, table: 0, frame: 1, writable: true, dirty: false, global: true });
  tlbFill(s, 2, 1, 0, { ver: 0, table: 0, frame: 0, writable: true, dirty: false, global: false });
  return s;
}
const leaf = (s: S, c: number, va: number) => tlbLookup(s, c, 0, va) !== null;

describe('INVLPGB and TLBSYNC', () => {
  it('INVLPGB returns at once: every CPU, the issuer too, keeps its entries until the broadcast reaches it, in any order', () => {
    const s = fresh();
    expect(invlpgb(s, 0, { pcid: 0, pages: [0], finalOnly: true })).toBe('INVLPGB pcid0 va0 FINAL_ONLY (asynchronous)');
    expect([0, 1, 2].map((c) => leaf(s, c, 0))).toEqual([true, true, true]);
    invlpgbArrive(s, 0, 2);
    expect([0, 1, 2].map((c) => leaf(s, c, 0))).toEqual([true, true, false]);
    expect(invlpgbIdle(s, 0)).toBe(false);
    invlpgbArrive(s, 0, 0);
    invlpgbArrive(s, 0, 1);
    expect([[0, 1, 2].map((c) => leaf(s, c, 0)), invlpgbIdle(s, 0)]).toEqual([[false, false, false], true]);
    expect(() => invlpgbArrive(s, 0, 1)).toThrow(/CPU1 has no INVLPGB of CPU0 to do/);
  });

  it('it drops only the PCID\'s non-global entries of its pages', () => {
    const s = fresh();
    invlpgb(s, 1, { pcid: 0, pages: [0, 1], finalOnly: false });
    invlpgbArrive(s, 1, 2);
    expect([s.tlbVer[2]![0]![0], s.tlbVer[2]![1]![0], s.tlbGlobal[2]![0]![1], s.tlbVer[2]![0]![2]]).toEqual([NONE, 0, true, 0]);
  });

  it('FINAL_ONLY keeps the cached PMDs; without it they go: every one of the PCID, or with EFER.TCE those of its pages', () => {
    const final = fresh();
    invlpgb(final, 0, { pcid: 0, pages: [0], finalOnly: true });
    invlpgbArrive(final, 0, 1);
    expect(final.psc[1]![0]).toEqual([0, 1]);
    const all = fresh();
    invlpgb(all, 0, { pcid: 0, pages: [0], finalOnly: false });
    invlpgbArrive(all, 0, 1);
    expect(all.psc[1]![0]).toEqual([NONE, NONE]);
    const tce = fresh(true);
    invlpgb(tce, 0, { pcid: 0, pages: [0], finalOnly: false });
    invlpgbArrive(tce, 0, 1);
    expect(tce.psc[1]![0]).toEqual([NONE, 1]);
  });

  it('TLBSYNC waits only for its own CPU\'s broadcasts; one broadcast in flight per CPU', () => {
    const s = fresh();
    invlpgb(s, 0, { pcid: 0, pages: [0], finalOnly: true });
    expect([invlpgbIdle(s, 0), invlpgbIdle(s, 1)]).toEqual([false, true]); // CPU1's TLBSYNC would return at once
    expect(() => invlpgb(s, 0, { pcid: 0, pages: [1], finalOnly: true })).toThrow(/CPU0 issues INVLPGB with one still in flight/);
    invlpgb(s, 1, { pcid: 0, pages: [2], finalOnly: true }); // another CPU's broadcast may be in flight beside it
    const a = invlpgbArriveAction<typeof decl>(sh);
    expect(a.guard!(s as never, 2, 1)).toBe(true);
    expect(a.describe!(s as never, 2, 1)).toBe('INVLPGB from CPU1 done here: pcid0 va2 dropped (FINAL_ONLY: cached PMDs kept)');
    expect(a.cpu!(2, 1)).toBe(2);
  });
});

describe('broadcast_tlb_flush', () => {
  it('bumps tlb_gen and broadcasts (FINAL_ONLY only under the unmerged proposal, and not with freed_tables); TLBSYNC passes once every CPU has done it', () => {
    const s = fresh();
    expect(broadcastTlbFlushIssue(s, 0, { mm: MM0, va: 0, vaEnd: 2, freedTables: false }, { pcid: 0, finalOnly: 'unlessFreedTables' })).toBe(
      'flush_tlb_mm_range(mm0): tlb_gen 0→1; broadcast_tlb_flush: INVLPGB pcid0 va0,va1 FINAL_ONLY (asynchronous)',
    );
    expect(broadcastTlbSyncDone(s, 0)).toBe(false);
    expect(() => broadcastTlbSync(s, 0)).toThrow(/CPU0 passes TLBSYNC with its INVLPGB still in flight/);
    for (const c of [0, 1, 2]) invlpgbArrive(s, 0, c);
    expect(broadcastTlbSync(s, 0)).toMatch(/TLBSYNC returns/);
    const freed = fresh();
    expect(broadcastTlbFlushIssue(freed, 0, { mm: MM0, va: 0, freedTables: true }, { pcid: 0 })).toMatch(/freed_tables\): tlb_gen 0→1; broadcast_tlb_flush: INVLPGB pcid0 va0 \(asynchronous\)$/);
    expect(broadcastTlbFlushIssue(fresh(), 0, { mm: MM0, va: 0, freedTables: false }, { pcid: 0 })).not.toMatch(/FINAL_ONLY/); // mainline never sets it
  });
});

verdictTableTests([invlpgbCollapse as unknown as ModelDef]);

describe('invlpgb-collapse: pmdp_collapse_flush without freed_tables (3ef938c3), with IPIs and with FINAL_ONLY INVLPGB', () => {
  const m = invlpgbCollapse as unknown as ModelDef;

  it('the FINAL_ONLY broadcast leaves CPU1\'s cached PMD; after TLBSYNC and the free it walks into the freed page table', () => {
    const t = run(m, { freedTables: false, finalOnly: 'unlessFreedTables' }).violations.find((v) => v.invariant === 'no-freed-table-walk')!.trace;
    const [fill, collapse, arrive, sync, free, walk] = stepsInOrder(t, [
      /user read va0 via page walk/,
      /pmdp_collapse_flush: PMD cleared \(PT page 0\); flush_tlb_range: .*INVLPGB pcid0 va0,va1 FINAL_ONLY/,
      /INVLPGB from CPU0 done here: .*FINAL_ONLY: cached PMDs kept/,
      /__tlbsync: TLBSYNC returns/,
      /pte_free_defer: PT page 0 freed/,
      /speculative walk va0 via cached PMD → PT page 0: reads FREED page-table page/,
    ]);
    expect(t[walk!]!.cpu).toBe(t[fill!]!.cpu);
    expect([collapse, sync, free].map((i) => t[i!]!.cpu)).toEqual([0, 0, 0]);
    expect(t.slice(arrive!, sync!).some((st) => st.cpu === t[walk!]!.cpu && /INVLPGB from CPU0 done here/.test(st.description))).toBe(true);
  });

  it('with the fix the window is there: the PMD cleared, a CPU still caching it, the broadcast in flight', () => {
    expect(reaches(m, {}, (s) => s.pmd[0][0] === NONE && s.psc[1][0][0] === 0 && s.bcPending[0] !== 0)).toBe(true);
    // ... but the table is never freed while a cached PMD still points at it.
    expect(reaches(m, {}, (s) => s.tableFreed[0] && s.psc.some((c: number[][]) => c[0]![0] === 0))).toBe(false);
  });
});
