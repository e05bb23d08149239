/** Unit tests of the x86 invalidation rules in src/hw (SDM Vol. 3A §4.10.4.1, INVPCID). */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { cpus, NONE, sort, type View } from '../src/index.js';
import { cpuFields, cr3Write, cr4Fields, cr4Of, cr4Write, ghostFields, invlpg, invpcid, nativeFlushTlbGlobal, pageTableFields, pteGlobalFields, tlbFields, tlbFill, tlbLookup, type HwShape } from '../src/hw/index.js';
import { access, accessPossible, defaultHwOptions, walk, walkPlan, type HwView } from '../src/hw/index.js';
import { pteInit, pteStore } from '../src/hw/pagetable.js';

const sh: HwShape = { CPU: cpus(1), PAGE: sort('page', 2), roots: 2, tables: 1, frames: 2, pcids: 2, versions: 2 };
const decl = { ...pageTableFields(sh), ...tlbFields(sh), ...cpuFields(sh), ...ghostFields(sh) };

function fresh(): HwView {
  const s = compileLayout(decl).makeView() as unknown as HwView & View<typeof decl>;
  return s;
}
const entry = (global = false) => ({ ver: 0, table: 0, frame: 0, writable: true, dirty: false, global });
/** TLB: va0 and va1 in pcid0 and pcid1, plus a global va1 entry in pcid1; PSC filled for both PCIDs. */
function loaded(): HwView {
  const s = fresh();
  for (const p of [0, 1]) for (const va of [0, 1]) tlbFill(s, 0, p, va, entry(p === 1 && va === 1));
  s.psc[0]![0]![0] = 0;
  s.psc[0]![1]![0] = 0;
  return s;
}
const has = (s: HwView, p: number, va: number) => s.tlbVer[0]![p]![va] !== NONE;

describe('INVLPG', () => {
  it('drops the address in the current PCID, global entries for it in any PCID, and all PSC entries of the current PCID', () => {
    const s = loaded();
    s.cr3Pcid[0] = 0;
    invlpg(s, 0, 1);
    expect(has(s, 0, 1)).toBe(false); // current PCID
    expect(has(s, 1, 1)).toBe(false); // global, other PCID
    expect(has(s, 0, 0)).toBe(true); // other address
    expect(has(s, 1, 0)).toBe(true); // other PCID, non-global
    expect(s.psc[0]![0]![0]).toBe(NONE); // PSC of current PCID, whatever address
    expect(s.psc[0]![1]![0]).toBe(0); // PSC of other PCIDs stays
  });
});

describe('MOV CR3', () => {
  it('with no-flush (bit 63) keeps every entry', () => {
    const s = loaded();
    cr3Write(s, 0, 1, 1, true);
    expect([has(s, 0, 0), has(s, 0, 1), has(s, 1, 0), has(s, 1, 1)]).toEqual([true, true, true, true]);
    expect(s.cr3Root[0]).toBe(1);
    expect(s.cr3Pcid[0]).toBe(1);
    expect(s.psc[0]).toEqual([[0], [0]]);
  });
  it('flushing drops the new PCID\'s non-global entries and PSC, keeps globals and other PCIDs', () => {
    const s = loaded();
    cr3Write(s, 0, 0, 1, false);
    expect(has(s, 1, 0)).toBe(false);
    expect(has(s, 1, 1)).toBe(true); // global
    expect(has(s, 0, 0) && has(s, 0, 1)).toBe(true);
    expect(s.psc[0]).toEqual([[0], [NONE]]);
  });
});

describe('INVPCID', () => {
  it('type 0: one address in one PCID, not globals', () => {
    const s = loaded();
    invpcid(s, 0, 0, 1, 1);
    expect(has(s, 1, 1)).toBe(true); // global survives type 0
    invpcid(s, 0, 0, 1, 0);
    expect(has(s, 1, 0)).toBe(false);
    expect(has(s, 0, 0)).toBe(true);
  });
  it('type 1: all non-global entries of one PCID', () => {
    const s = loaded();
    invpcid(s, 0, 1, 1);
    expect([has(s, 1, 0), has(s, 1, 1), has(s, 0, 0), has(s, 0, 1)]).toEqual([false, true, true, true]);
    expect(s.psc[0]).toEqual([[0], [NONE]]);
  });
  it('type 2: everything including globals', () => {
    const s = loaded();
    invpcid(s, 0, 2);
    expect([has(s, 0, 0), has(s, 0, 1), has(s, 1, 0), has(s, 1, 1)]).toEqual([false, false, false, false]);
    expect(s.psc[0]).toEqual([[NONE], [NONE]]);
  });
  it('type 3: everything except globals', () => {
    const s = loaded();
    invpcid(s, 0, 3);
    expect([has(s, 0, 0), has(s, 0, 1), has(s, 1, 0), has(s, 1, 1)]).toEqual([false, false, false, true]);
    expect(s.psc[0]).toEqual([[NONE], [NONE]]);
  });
});

describe('walks and accesses', () => {
  function mapped(): HwView {
    const s = fresh();
    s.pmd[0]![0] = 0;
    pteInit(s, 0, 0, 1);
    return s;
  }
  it('a walk sets A, fills TLB and PSC; a global entry of another PCID is usable', () => {
    const s = mapped();
    walk(s, 0, 0);
    expect(s.pteAccessed[0]![0]).toBe(true);
    expect(s.psc[0]![0]![0]).toBe(0);
    expect(tlbLookup(s, 0, 0, 0)?.frame).toBe(1);
    tlbFill(s, 0, 1, 1, { ...entry(true), frame: 0 });
    expect(tlbLookup(s, 0, 0, 1)?.global).toBe(true);
  });
  it('a walk starts from the cached PMD even after the PMD was cleared in memory', () => {
    const s = mapped();
    walk(s, 0, 0);
    s.pmd[0]![0] = NONE;
    expect(walkPlan(s, 0, 0)).toMatchObject({ viaPsc: true, table: 0, present: true });
    s.tableFreed[0] = true;
    walk(s, 0, 0);
    expect(s.freedTableWalk).toBe(0);
  });
  it('dirtySetRechecksPte: a write through a clean entry faults once the PTE is gone, and drops the entry', () => {
    const s = mapped();
    walk(s, 0, 0);
    pteStore(s, 0, 0, { present: false, writable: false, accessed: false, dirty: false, frame: 0 });
    const r = access(s, 0, 0, 'write', defaultHwOptions);
    expect(r?.outcome).toBe('fault');
    expect(s.frameWritten[1]).toBe(false);
    expect(tlbLookup(s, 0, 0, 0)).toBeNull();
    expect(accessPossible(s, 0, 0)).toBe(false);
  });
  it('without the recheck the write lands and sets D in the cleared PTE', () => {
    const s = mapped();
    walk(s, 0, 0);
    pteStore(s, 0, 0, { present: false, writable: false, accessed: false, dirty: false, frame: 0 });
    const r = access(s, 0, 0, 'write', { ...defaultHwOptions, dirtySetRechecksPte: false });
    expect(r?.outcome).toBe('ok');
    expect(s.frameWritten[1]).toBe(true);
    expect(s.pteDirty[0]![0]).toBe(true);
  });
  it('a read through an entry older than flushedUpTo is a stale use', () => {
    const s = mapped();
    walk(s, 0, 0);
    pteStore(s, 0, 0, { present: false, writable: false, accessed: false, dirty: false, frame: 0 });
    s.flushedUpTo[0]![0] = 1;
    access(s, 0, 0, 'read', defaultHwOptions);
    expect(s.staleUse).toBe(0);
  });
});

describe('CR4.PGE and CR4.PCIDE (cr4.ts; SDM §4.10.4.1, §4.10.2.4, §4.10.1)', () => {
  const declCr4 = { ...decl, ...cr4Fields(sh), ...pteGlobalFields(sh) };
  const withCr4 = () => {
    const s = compileLayout(declCr4).makeView() as unknown as HwView & View<typeof declCr4>;
    for (const p of [0, 1]) for (const va of [0, 1]) tlbFill(s, 0, p, va, entry(p === 1 && va === 1));
    s.psc[0]![0]![0] = 0;
    s.psc[0]![1]![0] = 0;
    return s;
  };
  const all = (s: HwView) => [has(s, 0, 0), has(s, 0, 1), has(s, 1, 0), has(s, 1, 1)];

  it('without CR4 fields every CPU runs with PGE=1 and PCIDE=1', () => {
    expect(cr4Of(fresh(), 0)).toEqual({ pge: true, pcide: true });
  });

  it('toggling PGE drops everything, globals and every PCID\'s PSC entries; a MOV to CR4 that changes neither bit drops nothing', () => {
    const s = withCr4();
    expect(cr4Write(s, 0, {})).toBe('MOV to CR4 (no change)');
    expect(all(s)).toEqual([true, true, true, true]);
    expect(cr4Write(s, 0, { pge: false })).toBe("MOV to CR4 (PGE 1→0): all TLB entries, globals included, and all PSC entries dropped");
    expect(all(s)).toEqual([false, false, false, false]);
    expect(s.psc[0]).toEqual([[NONE], [NONE]]);
  });

  it('PCIDE 1→0 drops everything; 0→1 drops nothing and needs CR3 PCID 0', () => {
    const s = withCr4();
    s.cr3Pcid[0] = 1;
    expect(() => cr4Write(s, 0, { pcide: false })).not.toThrow();
    expect(all(s)).toEqual([false, false, false, false]);
    expect(s.cr3Pcid[0]).toBe(0); // the current PCID is 000H from now on
    expect(() => invpcid(s, 0, 1, 1)).toThrow(/INVPCID type 1 for PCID 1 on CPU0 with CR4.PCIDE=0: #GP/);
    invpcid(s, 0, 1, 0);
    tlbFill(s, 0, 0, 0, entry());
    cr4Write(s, 0, { pcide: true });
    expect(has(s, 0, 0)).toBe(true);
    const t = withCr4();
    t.cr4Pcide[0] = false;
    t.cr3Pcid[0] = 1;
    expect(() => cr4Write(t, 0, { pcide: true })).toThrow(/CR4.PCIDE 0→1 on CPU0 with CR3 PCID 1: #GP/);
  });

  it('with PCIDE=0 a MOV to CR3 must use PCID 0 and flush', () => {
    const s = withCr4();
    s.cr4Pcide[0] = false;
    expect(() => cr3Write(s, 0, 0, 1, false)).toThrow(/CR4.PCIDE=0 but PCID 1/);
    expect(() => cr3Write(s, 0, 0, 0, true)).toThrow(/bit 63 \(no flush\) set/);
    cr3Write(s, 0, 0, 0, false);
    expect([has(s, 0, 0), has(s, 1, 1)]).toEqual([false, true]); // non-global of PCID 0 gone, the global stays
  });

  it('with PGE=0 a walk of a G=1 leaf fills a non-global entry, which a flushing MOV to CR3 drops', () => {
    const s = compileLayout(declCr4).makeView() as unknown as HwView & View<typeof declCr4>;
    s.pmd[0]![0] = 0;
    pteInit(s, 0, 0, 1);
    s.pteGlobal[0]![0] = true;
    walk(s, 0, 0);
    expect(tlbLookup(s, 0, 0, 0)!.global).toBe(true);
    cr4Write(s, 0, { pge: false });
    walk(s, 0, 0);
    expect(tlbLookup(s, 0, 0, 0)!.global).toBe(false);
    cr3Write(s, 0, 0, 0, false);
    expect(tlbLookup(s, 0, 0, 0)).toBeNull();
  });

  it('native_flush_tlb_global toggles PGE twice and leaves it as it was; with INVPCID it is type 2', () => {
    const s = withCr4();
    expect(nativeFlushTlbGlobal(s, 0, { invpcid: false })).toMatch(/CR4.PGE toggled off and on/);
    expect([all(s), s.cr4Pge[0]]).toEqual([[false, false, false, false], true]);
    const t = withCr4();
    expect(nativeFlushTlbGlobal(t, 0, { invpcid: true })).toBe('invpcid_flush_all (INVPCID type 2)');
    expect(all(t)).toEqual([false, false, false, false]);
  });
});
