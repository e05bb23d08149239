/**
 * The configurable world (src/kernel/world.ts), should_flush_tlb()'s
 * historic variants (src/kernel/flush.ts), the three-step context switch
 * (src/kernel/context-switch.ts), and the model built from them
 * (models/lazy-cpumask.ts): its verdict table and the historic trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { bits, type ModelDef, type View } from '../src/index.js';
import {
  contextSwitchFields,
  contextSwitchSteps,
  executing,
  ownIsLazy,
  flushTargets,
  LOADED_MM_SWITCHING,
  MM0,
  shouldFlushTlb,
  switching,
  world,
  type FlushInfo,
} from '../src/kernel/index.js';
import lazyCpumask from '../models/lazy-cpumask.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

describe('world() options', () => {
  const make = (w: ReturnType<typeof world>) => {
    const s = compileLayout(w.fields).makeView() as View<typeof w.fields>;
    w.init(s);
    return s;
  };

  it('default: every CPU on mm0, in its cpumask, PT page 0 mapping va_i → pfn_i writable and clean', () => {
    const w = world({ N: 3, P: 2, OPS: 1 });
    const s = make(w);
    expect(w.INIT_MM).toBe(1);
    expect(w.CPU.symmetric).toBe(true);
    expect([...s.loadedMm]).toEqual([0, 0, 0]);
    expect(s.mmCpumask[MM0]).toBe(bits.all(3));
    expect([...s.pteFrame[0]!]).toEqual([0, 1]);
    expect([...s.pteWritable[0]!, ...s.pteDirty[0]!]).toEqual([true, true, false, false]);
  });

  it('several mms, CPUs starting elsewhere, PTEs starting read-only and dirty', () => {
    const w = world({ N: 3, P: 2, OPS: 1, userMms: 2, asids: 2, start: (c) => (c === 0 ? { mm: 1 } : c === 1 ? { mm: 0, lazy: true } : 'init_mm'), pte: { writable: false, dirty: true } });
    const s = make(w);
    expect(w.INIT_MM).toBe(2);
    expect(w.tablesOf(1)).toEqual([1]);
    expect(w.tablesOf(w.INIT_MM)).toEqual([]);
    // mm1 maps va_i → pfn (P + i) through PT page 1.
    expect([s.pmd[0]![0], s.pmd[1]![0], s.pmd[2]![0]]).toEqual([0, 1, -1]);
    expect([...s.pteFrame[1]!]).toEqual([2, 3]);
    expect([...s.pteWritable[1]!, ...s.pteDirty[1]!]).toEqual([false, false, true, true]);
    expect([...s.loadedMm]).toEqual([1, 0, 2]);
    expect([...s.cr3Root]).toEqual([1, 0, 2]);
    expect([...s.isLazy]).toEqual([false, true, false]);
    // The lazy CPU stays in its mm's mask; the kthread on init_mm is in none.
    expect([s.mmCpumask[0], s.mmCpumask[1]]).toEqual([0b010, 0b001]);
    // CPUs that start in different places are not interchangeable.
    expect(w.CPU.symmetric).toBe(false);
  });

  it('emptyMms map nothing; a start on a missing mm is an error naming it', () => {
    const s = make(world({ N: 2, P: 1, OPS: 1, userMms: 2, emptyMms: [1] }));
    expect([s.pmd[0]![0], s.pmd[1]![0]]).toEqual([0, -1]);
    expect(() => world({ N: 2, P: 1, OPS: 1, start: () => ({ mm: 1 }) })).toThrow(/CPU0 starts on mm1, but the user mms are mm0\.\.mm0/);
    expect(() => world({ N: 2, P: 1, OPS: 1, userMms: 0 })).toThrow(/userMms must be an integer >= 1/);
  });
});

describe('should_flush_tlb() variants', () => {
  const w = world({ N: 3, P: 1, OPS: 1, userMms: 2, asids: 2 });
  const s = compileLayout(w.fields).makeView() as View<typeof w.fields>;
  w.init(s);
  const f: FlushInfo = { mm: MM0, va: 0, newGen: 1, freedTables: false };

  it('mainline: IPI a CPU running the mm or in LOADED_MM_SWITCHING; skip one running another mm, and a lazy one', () => {
    s.loadedMm[1] = LOADED_MM_SWITCHING;
    s.loadedMm[2] = 1;
    expect(shouldFlushTlb(s, 1, f)).toBe(true);
    expect(shouldFlushTlb(s, 2, f)).toBe(false);
    expect(flushTargets(s, 0, f, { ipiLazyOnFreedTables: true })).toBe(0b010);
    s.isLazy[1] = true;
    expect(shouldFlushTlb(s, 1, f)).toBe(false);
    s.isLazy[1] = false;
  });

  it('switchingIpi=false (before fea4e317f9e7) skips the switching CPU; trimCpumask IPIs every CPU of the mask', () => {
    expect(shouldFlushTlb(s, 1, f, { switchingIpi: false })).toBe(false);
    expect(flushTargets(s, 0, f, { ipiLazyOnFreedTables: true, switchingIpi: false })).toBe(0);
    expect(flushTargets(s, 0, f, { ipiLazyOnFreedTables: true, switchingIpi: false, trimCpumask: true })).toBe(0b110);
  });
});

describe('contextSwitchSteps', () => {
  const w = world({ N: 2, P: 1, OPS: 1, userMms: 2, asids: 2 });
  const decl = { ...w.fields, ...contextSwitchFields(w.k, 2) };
  type S = typeof decl;
  const fresh = () => {
    const s = compileLayout(decl).makeView() as View<S>;
    w.init(s);
    return s;
  };
  const steps = contextSwitchSteps<S>({ CPU: w.CPU, k: w.k, userMms: 2, canSwitch: () => true });
  const take = (s: View<S>, name: string, ...args: number[]) => {
    const a = steps[name]!;
    expect(a.guard ? a.guard(s, ...args) : true).toBe(true);
    a.effect(s, ...args);
  };

  it('three steps with IRQs off: LOADED_MM_SWITCHING until the end, the old mm bit kept (lazy cpumask)', () => {
    const s = fresh();
    expect(steps.switch_mm!.guard!(s, 0, 0)).toBe(false); // already on mm0
    take(s, 'switch_mm', 0, 1);
    expect([switching(s, 0), s.irqOff[0], s.loadedMm[0], s.curMm[0]]).toEqual([true, true, LOADED_MM_SWITCHING, 0]);
    expect(bits.has(s.mmCpumask[1], 0)).toBe(true);
    take(s, 'switch_cr3', 0);
    expect([s.cr3Root[0], s.cr3Pcid[0], s.loadedMm[0]]).toEqual([1, 1, LOADED_MM_SWITCHING]);
    take(s, 'switch_end', 0);
    expect([switching(s, 0), s.irqOff[0], s.loadedMm[0], s.curMm[0], s.swNext[0]]).toEqual([false, false, 1, 1, -1]);
    expect(bits.has(s.mmCpumask[MM0], 0)).toBe(true);
  });

  it('coming back to mm0 reuses its ASID and flushes only if mm0.tlb_gen moved on', () => {
    const s = fresh();
    for (const m of [1, 0, 1]) {
      take(s, 'switch_mm', 0, m);
      take(s, 'switch_cr3', 0);
      take(s, 'switch_end', 0);
    }
    s.tlbGen[MM0] = 1;
    take(s, 'switch_mm', 0, 0);
    expect([s.swAsid[0], s.swNeedFlush[0], s.swGen[0]]).toEqual([0, true, 1]);
  });

  it('preGen (4.13 and older): always a flushing CR3 write on ASID 0, and prev\'s mm_cpumask bit cleared after it', () => {
    const old = contextSwitchSteps<S>({ CPU: w.CPU, k: w.k, userMms: 2, canSwitch: () => true, sw: { preGen: true } });
    const s = fresh();
    old.switch_mm!.effect(s, 0, 1);
    expect([s.loadedMm[0], bits.has(s.mmCpumask[1], 0), bits.has(s.mmCpumask[MM0], 0)]).toEqual([MM0, true, true]); // no SWITCHING marker
    old.switch_cr3!.effect(s, 0);
    expect([s.cr3Root[0], s.cr3Pcid[0], bits.has(s.mmCpumask[MM0], 0)]).toEqual([1, 0, false]);
    old.switch_end!.effect(s, 0);
    old.switch_mm!.effect(s, 0, 0);
    expect([s.swAsid[0], s.swNeedFlush[0]]).toEqual([0, true]); // no PCID reuse: mm0's entries are not kept
  });

  it("world({ start }) sets current->mm: a CPU that starts on mm1 switches to mm0, a kernel thread has none", () => {
    const w2 = world({ N: 3, P: 1, OPS: 1, userMms: 2, asids: 2, start: (c) => (c === 0 ? { mm: 1 } : c === 1 ? { mm: 0, lazy: true } : 'init_mm') });
    const d2 = { ...w2.fields, ...contextSwitchFields(w2.k, 2) };
    const s = compileLayout(d2).makeView() as View<typeof d2>;
    w2.init(s);
    expect([...s.curMm]).toEqual([1, -1, -1]);
    expect([executing(s, 0, 1), executing(s, 0, 0), executing(s, 1, 0), ownIsLazy(s, 1)]).toEqual([true, false, false, true]);
    const st = contextSwitchSteps<typeof d2>({ CPU: w2.CPU, k: w2.k, userMms: 2, canSwitch: () => true });
    expect([st.switch_mm!.guard!(s, 0, 0), st.switch_mm!.guard!(s, 0, 1)]).toEqual([true, false]);
  });

  it('split: false is one step', () => {
    const one = contextSwitchSteps<S>({ CPU: w.CPU, k: w.k, userMms: 2, canSwitch: () => true, split: false });
    expect(Object.keys(one)).toEqual(['switch_mm']);
    const s = fresh();
    one.switch_mm!.effect(s, 0, 1);
    expect([switching(s, 0), s.loadedMm[0], s.curMm[0], s.irqOff[0]]).toEqual([false, 1, 1, false]);
  });
});

verdictTableTests([lazyCpumask as unknown as ModelDef]);

describe('lazy-cpumask: the window fea4e317f9e7 closed', () => {
  it("the switching CPU reads the old tlb_gen, the flush skips it as LOADED_MM_SWITCHING and returns, and the CPU reads through mm0's stale entry", () => {
    const r = run(lazyCpumask as unknown as ModelDef, { switchingIpi: false });
    const t = r.violations.find((v) => v.invariant === 'no-stale-access')!.trace;
    const [begin, skip, returns, read] = stepsInOrder(t, [
      /switch_mm\(mm0\) begins: .*tlb_gen 0 → asid 0$/,
      /send flush IPI → nobody \(CPU\d loaded_mm=LOADED_MM_SWITCHING: skipped\)/,
      /flush_tlb_mm_range\(va0\) returns/,
      /user read va0 via stale TLB entry/,
    ]);
    const switcher = t[begin!]!.cpu;
    // The CR3 write (before or after the skipped flush) does not flush: the CPU read tlb_gen 0.
    const cr3 = t.findIndex((st, i) => i > begin! && /load_new_mm_cr3\(mm0\)/.test(st.description));
    expect(t[cr3]!.description).toMatch(/CR3 write no-flush/);
    for (const i of [cr3, read]) expect(t[i!]!.cpu).toBe(switcher);
    for (const i of [skip, returns]) expect(t[i!]!.cpu).not.toBe(switcher);
    expect(t[skip!]!.description).toContain(`CPU${switcher} loaded_mm=LOADED_MM_SWITCHING`);
  });
});

describe('lazy-cpumask with the fix: the race is still there to be stopped', () => {
  it('reaches a CPU in the window that decided "no flush" on a tlb_gen the flush has since bumped, with the flush IPI queued to it', () => {
    const window = (s: any) =>
      [0, 1].some((c) => s.swPhase[c] !== 'none' && !s.swNeedFlush[c] && s.swGen[c] < s.tlbGen[0] && s.csd[1 - c][c] === 'queued');
    expect(reaches(lazyCpumask as unknown as ModelDef, {}, window)).toBe(true);
  });
});
