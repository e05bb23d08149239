/** The NMI block (src/hw/nmi.ts): entry and exit, the handler's user read, and the steps NMIs interrupt. */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { cpus, type ActionDef, type View } from '../src/index.js';
import { defaultHwOptions, fairnessUnderNmis, inNmi, nmiFields, nmiInterruptible, nmiSteps } from '../src/hw/index.js';
import { contextSwitchFields, contextSwitchSteps, MM0, nmiUaccessOkay, world } from '../src/kernel/index.js';
import { nmiUaccessCurrentMm, wrongMmUaccessFields } from '../properties/index.js';

const w = world({ N: 2, P: 1, OPS: 1, userMms: 2, asids: 2 });
const decl = { ...w.fields, ...contextSwitchFields(w.k, 2), ...nmiFields(w.hwShape) };
type S = typeof decl;
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<S>;
  w.init(s);
  return s;
};
const okay = (s: View<S>, c: number) => nmiUaccessOkay(s, c, s.curMm[c]);
const steps = nmiSteps<S>(w.hwShape, defaultHwOptions, { okay });
const enabled = (a: ActionDef<S>, s: View<S>, ...args: number[]) => (a.guard ? a.guard(s, ...args) : true);

describe('nmiSteps', () => {
  it('an NMI is taken with IRQs off, blocks further NMIs until its IRET, and its handler reads user memory only in the handler', () => {
    const s = fresh();
    s.irqOff[0] = true;
    expect(enabled(steps.nmi_uaccess, s, 0, 0, 0)).toBe(false);
    expect(enabled(steps.nmi_enter, s, 0)).toBe(true);
    steps.nmi_enter.effect(s, 0);
    expect([inNmi(s, 0), enabled(steps.nmi_enter, s, 0), enabled(steps.nmi_enter, s, 1)]).toEqual([true, false, true]);
    expect(enabled(steps.nmi_uaccess, s, 0, 0, 0)).toBe(true);
    steps.nmi_uaccess.effect(s, 0, 0, 0);
    expect(s.tlbVer[0]![0]![0]).toBe(0); // the read walked and filled the TLB
    steps.nmi_exit.effect(s, 0);
    expect([inNmi(s, 0), enabled(steps.nmi_exit, s, 0)]).toEqual([false, false]);
  });

  it("in the switch window nmi_uaccess_okay() says no: the handler does not read", () => {
    const s = fresh();
    const sw = contextSwitchSteps<S>({ CPU: w.CPU, k: w.k, userMms: 2, canSwitch: () => true });
    sw.switch_mm!.effect(s, 0, 1);
    steps.nmi_enter.effect(s, 0);
    expect(enabled(steps.nmi_uaccess, s, 0, 0, 0)).toBe(false);
    expect(okay(s, 1)).toBe(true); // CPU1 still runs mm0
    expect(s.loadedMm[1]).toBe(MM0);
  });
});

describe('nmiSteps with currentMm: the read must go through the interrupted task\'s mm', () => {
  const declW = { ...decl, ...wrongMmUaccessFields(w.CPU) };
  type SW = typeof declW;
  const prop = nmiUaccessCurrentMm<SW>();
  const st = nmiSteps<SW>(w.hwShape, defaultHwOptions, { okay: () => true, currentMm: (s, c) => s.curMm[c], tablesOf: w.tablesOf });

  it("latches wrongMmUaccess when CR3 points at another mm's tables than current->mm (a broken okay()), not otherwise", () => {
    const s = compileLayout(declW).makeView() as View<SW>;
    w.init(s);
    st.nmi_enter.effect(s, 0);
    st.nmi_uaccess.effect(s, 0, 0, 0);
    expect(prop.holds(s)).toBe(true); // current->mm = mm0 = CR3's mm
    s.curMm[1] = 1; // CPU1's task is of mm1, but CR3 still has mm0's tables
    st.nmi_enter.effect(s, 1);
    st.nmi_uaccess.effect(s, 1, 0, 0);
    expect([prop.holds(s), s.wrongMmUaccess]).toEqual([false, 1]);
  });

  it('without the ghost field it is a model error, not a verdict', () => {
    const s = fresh();
    const bad = nmiSteps<S>(w.hwShape, defaultHwOptions, { okay: () => true, currentMm: () => 1, tablesOf: w.tablesOf });
    bad.nmi_enter.effect(s, 0);
    expect(() => bad.nmi_uaccess.effect(s, 0, 0, 0)).toThrow(/the model has no wrongMmUaccessFields/);
  });
});

describe('nmiInterruptible', () => {
  const CPU = cpus(2);
  const acts: Record<'step' | 'ipi' | 'global', ActionDef<S>> = {
    step: { over: [CPU], guard: () => true, effect: () => {} },
    ipi: { over: [2, CPU], cpu: (_from, t) => t!, effect: () => {} },
    global: { effect: () => {} },
  };
  const wrapped = nmiInterruptible(acts);

  it("each step waits while the CPU that performs it (its cpu(), else its first CPU argument) is in the handler; a step without a CPU is unchanged", () => {
    const s = fresh();
    s.inNmi[1] = true;
    expect([enabled(wrapped.step, s, 0), enabled(wrapped.step, s, 1)]).toEqual([true, false]);
    expect([enabled(wrapped.ipi, s, 1, 0), enabled(wrapped.ipi, s, 0, 1)]).toEqual([true, false]);
    expect(wrapped.global).toBe(acts.global);
  });

  it('fairnessUnderNmis: weak becomes strong, handlers return; off, the fairness is unchanged', () => {
    const f = { a: 'weak', b: 'strong' } as const;
    expect(fairnessUnderNmis(f)).toEqual({ nmi_exit: 'weak', a: 'strong', b: 'strong' });
    expect(fairnessUnderNmis(f, false)).toBe(f);
  });
});
