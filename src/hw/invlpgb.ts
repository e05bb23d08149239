/**
 * AMD INVLPGB and TLBSYNC (AMD APM Vol. 3, "INVLPGB", "TLBSYNC"): TLB
 * invalidation broadcast to every processor, without IPIs.
 *
 * - INVLPGB (here by PCID and a set of pages, non-global entries) returns at
 *   once. Each processor, the issuing one included, does the invalidation
 *   at some later moment of its own (`invlpgb_arrives`: any time, any
 *   order).
 * - FINAL_ONLY: only final (leaf) translations go; the cached upper-level
 *   entries (the PSC) stay. Without it those go too: with EFER.TCE only the
 *   ones that lead to the pages (efer.ts), else every one of the PCID.
 * - TLBSYNC waits until every INVLPGB this processor issued has completed on
 *   every processor. It does not wait for other processors' broadcasts, so
 *   it must run on the CPU that issued them (Linux: __tlbsync() asserts
 *   cant_migrate()).
 *
 * Bound: one broadcast in flight per issuing CPU. A second INVLPGB before
 * the first has completed everywhere is a model error, so the model's guard
 * must wait for `invlpgbIdle`; executions with several broadcasts of one CPU
 * in flight at once are not explored (as with the store-buffer depth).
 */
import { array, bits, bool, int, NONE, setOf, type StateDecl, type View } from '../engine/types.js';
import type { ActionDef } from '../engine/model.js';
import { eferTceOf } from './efer.js';
import { pmdSlotOf } from './pagetable.js';
import type { HwShape } from './shape.js';
import { pscDrop, tlbDrop } from './tlb.js';
import { hw, type HwView } from './walk.js';

export function invlpgbFields(sh: Pick<HwShape, 'CPU' | 'PAGE' | 'pcids'>) {
  const { CPU, PAGE, pcids } = sh;
  return {
    /** The processors that have not yet done CPU c's broadcast (empty: none in flight). */
    ibPending: array(CPU, setOf(CPU)),
    ibPcid: array(CPU, int(0, pcids - 1)),
    ibPages: array(CPU, setOf(PAGE)),
    ibFinalOnly: array(CPU, bool()),
  };
}
export type InvlpgbView = View<ReturnType<typeof invlpgbFields>>;

export interface Invlpgb {
  pcid: number;
  pages: readonly number[];
  /** INVLPGB_FINAL_ONLY: leave the cached upper-level entries. */
  finalOnly: boolean;
}

/** CPU c has no broadcast in flight (TLBSYNC would return at once; it may issue another). */
export const invlpgbIdle = (s: InvlpgbView, c: number): boolean => s.ibPending[c] === 0;

/** INVLPGB by CPU c: the broadcast is on its way to every CPU. Returns the phrase. */
export function invlpgb(s: InvlpgbView, c: number, b: Invlpgb): string {
  if (!invlpgbIdle(s, c)) throw new Error(`CPU${c} issues INVLPGB with one still in flight: the step's guard must wait for invlpgbIdle() (one broadcast per CPU is modelled)`);
  s.ibPending[c] = bits.all(s.ibPending.length);
  s.ibPcid[c] = b.pcid;
  s.ibPages[c] = b.pages.reduce((m, va) => bits.add(m, va), 0);
  s.ibFinalOnly[c] = b.finalOnly;
  return `INVLPGB pcid${b.pcid} ${b.pages.map((va) => `va${va}`).join(',')}${b.finalOnly ? ' FINAL_ONLY' : ''} (asynchronous)`;
}

const pagesOf = (mask: number, P: number): number[] => Array.from({ length: P }, (_, va) => va).filter((va) => bits.has(mask, va));

/** CPU t does CPU `from`'s broadcast: drops the PCID's non-global entries of the pages, and the upper-level ones unless FINAL_ONLY. */
export function invlpgbArrive(s: InvlpgbView & HwView, from: number, t: number): void {
  if (!bits.has(s.ibPending[from]!, t)) throw new Error(`CPU${t} has no INVLPGB of CPU${from} to do`);
  const pcid = s.ibPcid[from]!;
  const pages = pagesOf(s.ibPages[from]!, s.tlbVer[t]![pcid]!.length);
  for (const va of pages) if (s.tlbVer[t]![pcid]![va] !== NONE && !s.tlbGlobal[t]![pcid]![va]) tlbDrop(s, t, pcid, va);
  if (!s.ibFinalOnly[from]) {
    if (eferTceOf(s, t)) for (const va of pages) pscDrop(s, t, pcid, pmdSlotOf(s, va));
    else pscDrop(s, t, pcid);
  }
  s.ibPending[from] = bits.del(s.ibPending[from]!, t);
  if (s.ibPending[from] === 0) {
    s.ibPcid[from] = 0;
    s.ibPages[from] = 0;
    s.ibFinalOnly[from] = false;
  }
}

/** A broadcast reaches a processor: any in-flight INVLPGB, on any CPU, at any time. */
export function invlpgbArriveAction<D extends StateDecl>(sh: Pick<HwShape, 'CPU'>): ActionDef<D> {
  const v = (s: View<D>) => s as unknown as InvlpgbView & HwView;
  return {
    over: [sh.CPU, sh.CPU],
    guard: (s, t, from) => bits.has(v(s).ibPending[from!]!, t!),
    effect: (s, t, from) => invlpgbArrive(v(s), from!, t!),
    describe: (s, t, from) => {
      const x = v(s);
      const pages = pagesOf(x.ibPages[from!]!, hw(s).tlbVer[t!]![0]!.length).map((va) => `va${va}`);
      return `INVLPGB from CPU${from} done here: pcid${x.ibPcid[from!]} ${pages.join(',')} dropped${x.ibFinalOnly[from!] ? ' (FINAL_ONLY: cached PMDs kept)' : ', cached PMDs too'}`;
    },
    cpu: (t) => t,
  };
}
