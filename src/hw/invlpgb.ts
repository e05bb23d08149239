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
import type { StateDecl } from '../engine/types.js';
import type { ActionDef } from '../engine/model.js';
import { bcArrive, bcArriveAction, bcIdle, bcIssue, broadcastInvalFields, type BroadcastInvalView } from './broadcast-inval.js';
import type { HwShape } from './shape.js';
import type { HwView } from './walk.js';

export const invlpgbFields = (sh: Pick<HwShape, 'CPU' | 'PAGE' | 'pcids'>) => broadcastInvalFields(sh);
export type InvlpgbView = BroadcastInvalView;

export interface Invlpgb {
  pcid: number;
  pages: readonly number[];
  /** INVLPGB_FINAL_ONLY: leave the cached upper-level entries. */
  finalOnly: boolean;
}

/** CPU c has no broadcast in flight (TLBSYNC would return at once; it may issue another). */
export const invlpgbIdle = (s: InvlpgbView, c: number): boolean => bcIdle(s, c);

/** INVLPGB by CPU c: the broadcast is on its way to every CPU. Returns the phrase. */
export function invlpgb(s: InvlpgbView, c: number, b: Invlpgb): string {
  bcIssue(s, c, { pcid: b.pcid, pages: b.pages, leafOnly: b.finalOnly, byVa: false }, { join: false, what: 'INVLPGB' });
  return `INVLPGB pcid${b.pcid} ${b.pages.map((va) => `va${va}`).join(',')}${b.finalOnly ? ' FINAL_ONLY' : ''} (asynchronous)`;
}

/** CPU t does CPU `from`'s broadcast. */
export const invlpgbArrive = (s: InvlpgbView & HwView, from: number, t: number): void => bcArrive(s, from, t, 'INVLPGB');

/** A broadcast reaches a processor: any in-flight INVLPGB, on any CPU, at any time. */
export function invlpgbArriveAction<D extends StateDecl>(sh: Pick<HwShape, 'CPU'>): ActionDef<D> {
  return bcArriveAction<D>(sh, 'INVLPGB', (x, from, pages) => `INVLPGB from CPU${from} done here: pcid${x.bcPcid[from]} ${pages} dropped${x.bcLeafOnly[from] ? ' (FINAL_ONLY: cached PMDs kept)' : ', cached PMDs too'}`);
}
