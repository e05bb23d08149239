/**
 * A context switch between the tasks of the user mms on one CPU
 * (kernel/sched/core.c context_switch() → switch_mm_irqs_off() →
 * switch_to()), with IRQs off, as three steps, so that remote CPUs (whose
 * should_flush_tlb() reads loaded_mm) and NMIs see the window between them:
 *
 *   switch_mm   IRQs off; switchMmBegin(): loaded_mm = LOADED_MM_SWITCHING,
 *               set the mm_cpumask bit (or smp_mb()), read tlb_gen,
 *               choose_new_asid()
 *   switch_cr3  switchMmLoadCr3(): ctxs[asid] = {ctx_id, tlb_gen} if it
 *               flushes; load_new_mm_cr3()
 *   switch_end  switchMmEnd(): loaded_mm = next; switch_to(): current is
 *               next's task; IRQs on again
 *
 * `split: false` makes it one step (the window hidden). `current->mm` is
 * `curMm` (prev's task until switch_end). The previous mm's mm_cpumask bit
 * stays set (lazy mm_cpumask, 209954cbc7d0): flush_tlb_func() clears it
 * when a flush reaches the CPU running another mm.
 */
import type { ActionDef } from '../engine/model.js';
import { array, enumOf, int, NONE, type Sort, type StateDecl, type View } from '../engine/types.js';
import type { KernelShape } from './shape.js';
import { saveSwitchPlan, switchMmBegin, switchMmEnd, switchMmIrqsOff, switchMmLoadCr3, switchPlanOf, switchStepFields, type KView, type SwitchOptions } from './switch.js';
import { LOADED_MM_SWITCHING, ownLoadedMm } from './tlbstate.js';
import { phraseOf } from './world.js';

export const SWITCH_PHASES = ['none', 'begun', 'cr3-loaded'] as const;

export function contextSwitchFields(k: KernelShape, userMms: number) {
  return {
    ...switchStepFields(k),
    /** current->mm on each CPU: the mm of the task it runs (prev's until switch_to()); NONE on a kernel thread. world() sets it from its `start`. */
    curMm: array(k.CPU, int(NONE, userMms - 1)),
    /** Where each CPU is in switch_mm_irqs_off(): not switching, after the tlb_gen read, after the CR3 write. */
    swPhase: array(k.CPU, enumOf(SWITCH_PHASES)),
  };
}
export type ContextSwitchView = KView & View<ReturnType<typeof contextSwitchFields>>;

/** CPU c runs a task of `mm` and is not switching away from it (current->mm == mm). */
export function executing(s: Pick<ContextSwitchView, 'swPhase' | 'curMm'>, c: number, mm: number): boolean {
  return s.curMm[c] === mm && s.swPhase[c] === 'none';
}

/** CPU c is inside switch_mm_irqs_off() (between switch_mm and switch_end). */
export function switching(s: Pick<ContextSwitchView, 'swPhase'>, c: number): boolean {
  return s.swPhase[c] !== 'none';
}

export interface ContextSwitchOptions<D extends StateDecl> {
  CPU: Sort;
  k: KernelShape;
  /** Number of user mms (the tasks a CPU can switch between are one per user mm). */
  userMms: number;
  /** CPU c's task may be scheduled out now (e.g. it is in user mode, not inside a syscall). */
  canSwitch: (s: View<D>, c: number) => boolean;
  /** Three steps (default) or one. */
  split?: boolean;
  /** switch_mm_irqs_off()'s barriers and hooks (kernel/switch.ts). */
  sw?: SwitchOptions;
}

export function contextSwitchSteps<D extends StateDecl>(o: ContextSwitchOptions<D>): Record<string, ActionDef<D>> {
  const v = (s: View<D>) => s as unknown as ContextSwitchView;
  const { k, sw } = o;
  const mmName = (m: number) => `mm${m}`;
  const begin: ActionDef<D> = {
    over: [o.CPU, o.userMms],
    guard: (s, c, m) => o.canSwitch(s, c!) && !switching(v(s), c!) && v(s).curMm[c!] !== m,
    effect: (s, c, m) => {
      const x = v(s);
      if (o.split === false) {
        switchMmIrqsOff(x, c!, m!, k, sw);
        x.curMm[c!] = m!;
        return;
      }
      const { plan } = switchMmBegin(x, c!, m!, k, sw);
      if (!plan) {
        x.curMm[c!] = m!; // next already loaded: switch_mm_irqs_off() returned at once
        return;
      }
      x.irqOff[c!] = true;
      saveSwitchPlan(x, c!, plan);
      x.swPhase[c!] = 'begun';
    },
    describe: (s, c, m) =>
      phraseOf(v(s), (x) =>
        o.split === false
          ? `schedule → task of ${mmName(m!)}: ${switchMmIrqsOff(x, c!, m!, k, sw)}`
          : `schedule → task of ${mmName(m!)}, IRQs off: ${switchMmBegin(x, c!, m!, k, sw).phrase}`,
      ),
  };
  if (o.split === false) return { switch_mm: begin };
  // swPhase 'begun' means a plan was saved (a switch that returned early is one step).
  const planOf = (x: ContextSwitchView, c: number) => {
    const plan = switchPlanOf(x, c);
    if (!plan) throw new Error(`context switch: CPU${c} is switching without a saved plan`);
    return plan;
  };
  const lmName = (x: ContextSwitchView, c: number) => {
    const lm = ownLoadedMm(x, c);
    return lm === LOADED_MM_SWITCHING ? 'LOADED_MM_SWITCHING' : `mm${lm}`;
  };
  return {
    switch_mm: begin,
    switch_cr3: {
      over: [o.CPU],
      guard: (s, c) => v(s).swPhase[c!] === 'begun',
      effect: (s, c) => {
        switchMmLoadCr3(v(s), c!, planOf(v(s), c!), sw);
        v(s).swPhase[c!] = 'cr3-loaded';
      },
      describe: (s, c) => phraseOf(v(s), (x) => `load_new_mm_cr3(mm${x.swNext[c!]}): ${switchMmLoadCr3(x, c!, planOf(x, c!), sw)}; loaded_mm still ${lmName(x, c!)}`),
    },
    switch_end: {
      over: [o.CPU],
      guard: (s, c) => v(s).swPhase[c!] === 'cr3-loaded',
      effect: (s, c) => {
        const x = v(s);
        const plan = planOf(x, c!);
        switchMmEnd(x, c!, plan);
        x.curMm[c!] = plan.next;
        saveSwitchPlan(x, c!, null);
        x.swPhase[c!] = 'none';
        x.irqOff[c!] = false;
      },
      describe: (s, c) => `loaded_mm = mm${v(s).swNext[c!]}; switch_to: current = task of mm${v(s).swNext[c!]}, IRQs on`,
    },
  };
}
