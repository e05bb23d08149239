/**
 * Broadcast TLB invalidation with per-CPU completion: the common core of
 * AMD INVLPGB/TLBSYNC (invlpgb.ts) and arm64 TLBI ...IS/DSB ISH
 * (arm64/tlbi.ts). A CPU issues an invalidation of some pages of a PCID
 * (an ASID on arm64); every CPU, the issuer included, does it at some later
 * moment of its own (`arrive`: any time, any order); the issuer's completion
 * wait (TLBSYNC, DSB ISH) can pass once every CPU has. `leafOnly` keeps the
 * cached upper-level entries (INVLPGB_FINAL_ONLY, TLBI VALE1); otherwise
 * they go too: on arm64 (`byVa`) and with AMD EFER.TCE those that lead to the
 * pages, else every one of the PCID.
 *
 * Bound: one batch in flight per CPU. arm64 issues a loop of TLBIs before
 * one DSB: those `join` the batch (same kind, the pages added) and each
 * other CPU does the whole batch in one step. An INVLPGB with one in flight
 * is a model error (the model's guard waits for `bcIdle`).
 */
import { array, bits, bool, int, NONE, setOf, type StateDecl, type View } from '../engine/types.js';
import type { ActionDef } from '../engine/model.js';
import { eferTceOf } from './efer.js';
import { pmdSlotOf } from './pagetable.js';
import type { HwShape } from './shape.js';
import { pscDrop, tlbDrop } from './tlb.js';
import type { HwView } from './walk.js';

export function broadcastInvalFields(sh: Pick<HwShape, 'CPU' | 'PAGE' | 'pcids'>) {
  const { CPU, PAGE, pcids } = sh;
  return {
    /** The CPUs that have not yet done CPU c's batch (empty: none in flight). */
    bcPending: array(CPU, setOf(CPU)),
    bcPcid: array(CPU, int(0, pcids - 1)),
    bcPages: array(CPU, setOf(PAGE)),
    bcLeafOnly: array(CPU, bool()),
    /** The upper-level entries go by address (arm64), not by the target's EFER.TCE. */
    bcByVa: array(CPU, bool()),
  };
}
export type BroadcastInvalView = View<ReturnType<typeof broadcastInvalFields>>;

export interface BroadcastInval {
  pcid: number;
  pages: readonly number[];
  leafOnly: boolean;
  byVa: boolean;
}

/** CPU c has no batch in flight. */
export const bcIdle = (s: BroadcastInvalView, c: number): boolean => s.bcPending[c] === 0;

/** CPU c issues `b`; with `join`, into its batch in flight (same PCID and kind), else a new batch (none may be in flight). */
export function bcIssue(s: BroadcastInvalView, c: number, b: BroadcastInval, o: { join: boolean; what: string }): void {
  const pages = b.pages.reduce((m, va) => bits.add(m, va), 0);
  if (!bcIdle(s, c)) {
    if (!o.join) throw new Error(`CPU${c} issues ${o.what} with one still in flight: the step's guard must wait (one broadcast per CPU is modelled)`);
    if (s.bcPcid[c] !== b.pcid || s.bcLeafOnly[c] !== b.leafOnly || s.bcByVa[c] !== b.byVa) throw new Error(`CPU${c} issues ${o.what} of another kind into its batch in flight`);
    // A CPU that has done the batch would redo its old pages: the model issues a whole batch before any CPU does it.
    if (s.bcPending[c] !== bits.all(s.bcPending.length)) throw new Error(`CPU${c} adds ${o.what} to a batch some CPU has already done: issue the whole batch in one step`);
    s.bcPages[c] = s.bcPages[c]! | pages;
    s.bcPending[c] = bits.all(s.bcPending.length);
    return;
  }
  s.bcPending[c] = bits.all(s.bcPending.length);
  s.bcPcid[c] = b.pcid;
  s.bcPages[c] = pages;
  s.bcLeafOnly[c] = b.leafOnly;
  s.bcByVa[c] = b.byVa;
}

export const bcPagesOf = (mask: number, P: number): number[] => Array.from({ length: P }, (_, va) => va).filter((va) => bits.has(mask, va));

/** CPU t does CPU `from`'s batch: the PCID's non-global entries of the pages, and the upper-level ones unless leaf-only. */
export function bcArrive(s: BroadcastInvalView & HwView, from: number, t: number, what: string): void {
  if (!bits.has(s.bcPending[from]!, t)) throw new Error(`CPU${t} has no ${what} of CPU${from} to do`);
  const pcid = s.bcPcid[from]!;
  const pages = bcPagesOf(s.bcPages[from]!, s.tlbVer[t]![pcid]!.length);
  // INVLPGB by PCID leaves global entries; an arm64 TLBI by VA and ASID drops them too.
  for (const va of pages) if (s.tlbVer[t]![pcid]![va] !== NONE && (s.bcByVa[from] || !s.tlbGlobal[t]![pcid]![va])) tlbDrop(s, t, pcid, va);
  if (!s.bcLeafOnly[from]) {
    if (s.bcByVa[from] || eferTceOf(s, t)) for (const va of pages) pscDrop(s, t, pcid, pmdSlotOf(s, va));
    else pscDrop(s, t, pcid);
  }
  s.bcPending[from] = bits.del(s.bcPending[from]!, t);
  if (s.bcPending[from] === 0) {
    s.bcPcid[from] = 0;
    s.bcPages[from] = 0;
    s.bcLeafOnly[from] = false;
    s.bcByVa[from] = false;
  }
}

/** A batch reaches a CPU: any in flight, on any CPU, at any time. `phrase` names it in the issuer's vocabulary. */
export function bcArriveAction<D extends StateDecl>(sh: Pick<HwShape, 'CPU'>, what: string, phrase: (s: BroadcastInvalView, from: number, pages: string) => string): ActionDef<D> {
  const v = (s: View<D>) => s as unknown as BroadcastInvalView & HwView;
  return {
    over: [sh.CPU, sh.CPU],
    guard: (s, t, from) => bits.has(v(s).bcPending[from!]!, t!),
    effect: (s, t, from) => bcArrive(v(s), from!, t!, what),
    describe: (s, t, from) => phrase(v(s), from!, bcPagesOf(v(s).bcPages[from!]!, v(s).tlbVer[t!]![0]!.length).map((va) => `va${va}`).join(',')),
    cpu: (t) => t,
  };
}
