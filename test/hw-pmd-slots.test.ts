/**
 * Several PMDs per root (HwShape.pmds, src/hw/pagetable.ts) and EFER.TCE
 * (src/hw/efer.ts): which page-table page a walk of each page uses, which
 * PSC entries INVLPG, INVPCID and a #PF drop (Intel SDM Vol. 3A §4.10.4.1;
 * AMD APM Vol. 2, EFER.TCE), and world({ pmds }).
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { cpus, NONE, sort, type View } from '../src/index.js';
import {
  cpuFields,
  eferFields,
  ghostFields,
  invlpg,
  invpcid,
  pageFaultInvalidate,
  pageTableFields,
  pmdInit,
  pmdSlotOf,
  pmdSlotPages,
  pscEvictAction,
  tableOf,
  tlbFields,
  walk,
  walkPlan,
  type HwShape,
  type HwView,
} from '../src/hw/index.js';
import { pteInit } from '../src/hw/pagetable.js';
import { MM0, movePte, pmdClear, ptepGetAndClear, world } from '../src/kernel/index.js';

const PAGE = sort('page', 4, { symmetric: false });
const sh: HwShape = { CPU: cpus(2), PAGE, roots: 1, tables: 3, frames: 4, pcids: 1, versions: 2, pmds: 2 };
const decl = { ...pageTableFields(sh), ...tlbFields(sh), ...cpuFields(sh), ...ghostFields(sh), ...eferFields(sh) };
type S = HwView & View<typeof decl>;

/** Root 0: PMD slot 0 (va0, va1) → PT page 0, slot 1 (va2, va3) → PT page 1; every page mapped; CPU0 has walked va0 and va2. */
function fresh(tce = false): S {
  const s = compileLayout(decl).makeView() as unknown as S;
  pmdInit(s, 0, 0, 0);
  pmdInit(s, 0, 1, 1);
  for (let va = 0; va < 4; va++) pteInit(s, tableOf(s, 0, va), va, va);
  s.eferTce[0] = tce;
  walk(s, 0, 0);
  walk(s, 0, 2);
  return s;
}

describe('PMD slots', () => {
  it('consecutive pages share a PMD; each slot has its page-table page', () => {
    const s = fresh();
    expect([0, 1, 2, 3].map((va) => pmdSlotOf(s, va))).toEqual([0, 0, 1, 1]);
    expect([pmdSlotPages(s, 0), pmdSlotPages(s, 1)]).toEqual([[0, 1], [2, 3]]);
    expect([0, 1, 2, 3].map((va) => tableOf(s, 0, va))).toEqual([0, 0, 1, 1]);
    const odd = world({ N: 2, P: 3, OPS: 1, pmds: 2 });
    const t = compileLayout(odd.fields).makeView() as View<typeof odd.fields>;
    odd.init(t);
    expect([0, 1, 2].map((va) => pmdSlotOf(t, va))).toEqual([0, 0, 1]);
  });

  it('a walk caches the PSC entry of its own slot and reads that slot\'s page-table page', () => {
    const s = fresh();
    expect(s.psc[0]![0]).toEqual([0, 1]);
    expect([s.tlbTable[0]![0]![0], s.tlbTable[0]![0]![2]]).toEqual([0, 1]);
    pmdClear(s, 0, undefined, 1); // unhook slot 1 only
    expect(walkPlan(s, 1, 2)).toBeNull(); // CPU1 has no PSC entry: the PMD is not present
    expect(walkPlan(s, 1, 0)).toMatchObject({ table: 0, viaPsc: false });
    expect(walkPlan(s, 0, 2)).toMatchObject({ table: 1, viaPsc: true }); // CPU0 still walks through its cached PMD
  });

  it('a PSC eviction names the slot, and there is one instance per slot', () => {
    const a = pscEvictAction<typeof decl>(sh);
    expect(a.over).toEqual([sh.CPU, 1, 2]);
    const s = fresh();
    expect(a.describe!(s as never, 0, 0, 1)).toBe('PSC drops cached PMD (pcid0, slot 1)');
    a.effect(s as never, 0, 0, 1);
    expect(s.psc[0]![0]).toEqual([0, NONE]);
  });

  it('with several PMDs a block must be told the slot, and a slot is only asked of a page', () => {
    const s = fresh();
    expect(() => pmdClear(s, 0)).toThrow(/pmd_clear: root 0 has 2 PMDs; say which slot/);
    expect(() => pmdInit(s, 0, 0)).toThrow(/pmdInit: root 0 has 2 PMDs/);
    expect(() => pmdSlotOf(s, -1)).toThrow(/pmdSlotOf: va-1 is not a page \(va0\.\.va3\)/);
  });

  it('more PMDs than pages, or interchangeable pages under several PMDs, are refused', () => {
    expect(() => pageTableFields({ ...sh, pmds: 5 })).toThrow(/pmds must be an integer from 1 to the number of pages \(4\); got 5/);
    expect(() => pageTableFields({ ...sh, PAGE: sort('page', 4, { symmetric: true }) })).toThrow(/declare the page sort with symmetric: false/);
  });
});

describe('INVLPG, INVPCID and #PF with several PMDs', () => {
  it('Intel (TCE=0): INVLPG of one page drops the PSC entries of every slot of the PCID', () => {
    const s = fresh(false);
    invlpg(s, 0, 0);
    expect(s.psc[0]![0]).toEqual([NONE, NONE]);
  });

  it('AMD with EFER.TCE=1: INVLPG and INVPCID type 0 drop only the PSC entry that leads to the address', () => {
    const s = fresh(true);
    invlpg(s, 0, 0);
    expect(s.psc[0]![0]).toEqual([NONE, 1]);
    expect(walkPlan(s, 0, 3)).toMatchObject({ table: 1, viaPsc: true });
    const t = fresh(true);
    invpcid(t, 0, 0, 0, 3);
    expect(t.psc[0]![0]).toEqual([0, NONE]);
    invpcid(t, 0, 1, 0);
    expect(t.psc[0]![0]).toEqual([NONE, NONE]); // a whole-PCID invalidation drops every slot, TCE or not
  });

  it('a #PF drops the PSC entry used for the faulting address only (SDM §4.10.4.1)', () => {
    const s = fresh(false);
    pageFaultInvalidate(s, 0, 3);
    expect(s.psc[0]![0]).toEqual([0, NONE]);
  });
});

describe('world({ pmds }) and the kernel blocks', () => {
  const w = world({ N: 2, P: 4, OPS: 2, pmds: 2 });
  const make = () => {
    const s = compileLayout(w.fields).makeView() as View<typeof w.fields>;
    w.init(s);
    return s;
  };

  it('mm0 gets one page-table page per slot; pages lose their symmetry', () => {
    const s = make();
    expect([w.tablesOf(MM0), s.pmd[MM0], w.PAGE.symmetric, w.hwShape.tables]).toEqual([[0, 1], [0, 1], false, 2]);
    expect([0, 1, 2, 3].map((va) => s.ptePresent[tableOf(s, MM0, va)]![va])).toEqual([true, true, true, true]);
    expect([s.ptePresent[0]![2], s.ptePresent[1]![0]]).toEqual([false, false]); // each page-table page maps only its own slot
  });

  it('ptep_get_and_clear and mremap\'s PTE move find each page in its own slot\'s page-table page', () => {
    const s = make();
    expect(ptepGetAndClear(s, MM0, 3, 0)).toBe(3);
    expect([s.ptePresent[1]![3], s.pteVer[1]![3]]).toEqual([false, 1]);
    expect(movePte(s, 0, MM0, 0, 3)).toEqual({ frame: 0, dirty: false }); // from PT page 0 to PT page 1
    expect([s.ptePresent[0]![0], s.ptePresent[1]![3], s.pteFrame[1]![3]]).toEqual([false, true, 0]);
    pmdClear(s, MM0, 0, 1);
    expect(() => movePte(s, 0, MM0, 1, 2)).toThrow(/va2's PMD in mm0 is not present/);
  });
});
