/**
 * NMIs. An NMI is delivered whatever RFLAGS.IF says, so a CPU with IRQs off
 * (inside switch_mm_irqs_off(), a flush, a gup_fast walk) takes it between
 * any two of its steps. While the handler runs, further NMIs are blocked
 * until its IRET (Intel SDM Vol. 3A, "Handling Multiple NMIs"; one more may
 * stay latched, which here is simply the next nmi_enter after nmi_exit).
 *
 *   nmi_enter   the CPU takes an NMI (when `may(s, c)`: e.g. only CPUs the
 *               model lets NMIs hit)
 *   nmi_uaccess the handler reads user memory (copy_from_user_nmi(), perf
 *               and BPF stack walks) when `okay(s, c)`, normally
 *               nmi_uaccess_okay() (kernel/tlbstate.ts)
 *   nmi_exit    the handler returns (IRET)
 *
 * The code an NMI interrupts does not run until the handler returns:
 * `nmiInterruptible(actions)` makes each of the model's steps wait while the
 * CPU that performs it is in the handler (the hardware's own background
 * steps, walks and evictions, go on). `fairnessUnderNmis` adjusts the
 * model's fairness for liveness.
 * For an NMI whose whole
 * handler is one read, hardwareActions' `nmiUaccess` (access.ts) is the
 * smaller model.
 */
import type { ActionDef, Fairness } from '../engine/model.js';
import { array, bool, NONE, type StateDecl, type View } from '../engine/types.js';
import { latch } from './ghost.js';
import { whileCpu } from '../engine/program.js';
import { tlbLookup } from './tlb.js';
import { hw, walkPlan } from './walk.js';
import { accessAction } from './access.js';
import type { HwOptions } from './options.js';
import type { HwShape } from './shape.js';

export function nmiFields(sh: Pick<HwShape, 'CPU'>) {
  return { inNmi: array(sh.CPU, bool()) };
}
export type NmiView = View<ReturnType<typeof nmiFields>>;

export const inNmi = (s: unknown, c: number): boolean => (s as NmiView).inNmi[c]!;

export const nmiFairness = { nmi_exit: 'weak' } as const satisfies Record<string, Fairness>;

/**
 * A model's fairness once NMIs can interrupt its steps: a handler returns
 * (nmi_exit weakly fair), and a weakly fair step becomes strongly fair,
 * since NMIs can keep disabling it for a moment: a step that keeps becoming
 * enabled is taken (as pti-deferred assumes of its exit path). With
 * `nmis` false (the model's NMIs switched off) `f` is returned as it is.
 */
export function fairnessUnderNmis(f: Record<string, Fairness>, nmis = true): Record<string, Fairness> {
  if (!nmis) return f;
  const out: Record<string, Fairness> = { ...nmiFairness };
  for (const [name, how] of Object.entries(f)) out[name] = how === 'weak' ? 'strong' : how;
  return out;
}

/**
 * `okay` gates the handler's read. With `currentMm` (the interrupted task's
 * mm, NONE for a kernel thread) and `tablesOf`, a read that goes through a
 * page-table page of another mm latches `wrongMmUaccess` (the model then has
 * wrongMmUaccessFields and checks properties/nmi-uaccess-current-mm.ts).
 */
export function nmiSteps<D extends StateDecl>(
  sh: HwShape,
  o: HwOptions,
  w: {
    may?: (s: View<D>, c: number) => boolean;
    okay: (s: View<D>, c: number) => boolean;
    currentMm?: (s: View<D>, c: number) => number;
    tablesOf?: (mm: number) => readonly number[];
  },
): Record<'nmi_enter' | 'nmi_uaccess' | 'nmi_exit', ActionDef<D>> {
  const v = (s: View<D>) => s as unknown as NmiView;
  const read = accessAction<D>(sh, o, (s, c) => v(s).inNmi[c] === true && w.okay(s, c), { who: 'NMI handler: nmi_uaccess_okay() → copy_from_user_nmi: ', kinds: ['read'] });
  const { currentMm, tablesOf } = w;
  const checked: ActionDef<D> =
    currentMm && tablesOf
      ? {
          ...read,
          effect: (s, c, va, k) => {
            const x = hw(s);
            const e = tlbLookup(x, c!, x.cr3Pcid[c!]!, va!);
            const table = e ? e.table : walkPlan(x, c!, va!)?.table;
            const mm = currentMm(s, c!);
            if (table !== undefined && !(mm !== NONE && tablesOf(mm).includes(table))) {
              const g = s as unknown as { wrongMmUaccess?: number };
              if (g.wrongMmUaccess === undefined) throw new Error('nmiSteps: currentMm/tablesOf given, but the model has no wrongMmUaccessFields');
              g.wrongMmUaccess = latch(g.wrongMmUaccess, c!);
            }
            read.effect(s, c, va, k);
          },
        }
      : read;
  return {
    nmi_enter: {
      over: [sh.CPU],
      guard: (s, c) => !v(s).inNmi[c!] && (w.may ? w.may(s, c!) : true),
      effect: (s, c) => void (v(s).inNmi[c!] = true),
      describe: () => 'NMI',
    },
    nmi_uaccess: checked,
    nmi_exit: {
      over: [sh.CPU],
      guard: (s, c) => v(s).inNmi[c!] === true,
      effect: (s, c) => void (v(s).inNmi[c!] = false),
      describe: () => 'NMI handler returns (IRET)',
    },
  };
}

/**
 * The steps of the code NMIs interrupt (kernel and user steps): each waits
 * while its CPU is in an NMI handler (the model must have nmiFields). A step
 * with no CPU is returned as it is.
 */
export function nmiInterruptible<D extends StateDecl, K extends string>(actions: Record<K, ActionDef<D>>): Record<K, ActionDef<D>> {
  return whileCpu(actions, (s, c) => !inNmi(s, c));
}
