/**
 * The page walker (SDM §4.10.2.3, §4.10.3.1). A walk may happen at any time
 * while a root is loaded, for prefetch or never-retired speculation too:
 * - it starts from the cached upper entry (PSC) of the current PCID for va's
 *   PMD if there is one, else reads that PMD from memory and may cache it;
 * - it then reads the leaf PTE from the page-table page IN MEMORY — through a
 *   stale PSC entry that page may already be unhooked or freed;
 * - a present leaf gets A=1 in memory first, then is cached in the TLB,
 *   tagged with the current PCID, with the leaf's D as it is now.
 * With store buffers (store-buffer.ts) the PMD and PTE reads are loads of the
 * walking CPU, forwarded from its own buffer, and the A update is a locked RMW
 * (SDM §9.1.2.1) that drains that buffer first.
 */
import { NONE, type StateDecl, type View } from '../engine/types.js';
import type { ActionDef } from '../engine/model.js';
import type { CpuView } from './cpu.js';
import { latch, type GhostView } from './ghost.js';
import { pmdSeen, pmdSlotOf, pteLoc, pteSeen, type PageTableView } from './pagetable.js';
import { pteGlobalOf } from './pte-global.js';
import { cr4PgeOf } from './cr4.js';
import { fence, forwarded, inFlight, sbLength } from './store-buffer.js';
import { pmdsOf, type HwShape } from './shape.js';
import { pscDrop, tlbDrop, tlbEntry, tlbFill, type TlbView } from './tlb.js';

export type HwView = PageTableView & TlbView & CpuView & GhostView;
/** Building-block actions are written against HwView; a model's view has (at least) those fields. */
export const hw = (s: unknown): HwView => s as HwView;

export interface WalkPlan {
  /** The page-table page the leaf is read from. */
  table: number;
  /** va's PMD slot (the PSC entry the walk uses or fills). */
  slot: number;
  /** The walk started from a cached PSC entry (else from the PMD in memory). */
  viaPsc: boolean;
  /** That page-table page has been freed: the walk reads garbage. */
  freed: boolean;
  present: boolean;
}

/** Where a walk of va on CPU c would go now; null = upper entry not present. */
export function walkPlan(s: HwView, c: number, va: number): WalkPlan | null {
  const pcid = s.cr3Pcid[c]!;
  const slot = pmdSlotOf(s, va);
  let table = s.psc[c]![pcid]![slot]!;
  const viaPsc = table !== NONE;
  if (!viaPsc) table = pmdSeen(s, c, s.cr3Root[c]!, slot);
  if (table === NONE) return null;
  const freed = s.tableFreed[table]!;
  return { table, slot, viaPsc, freed, present: !freed && pteSeen(s, c, table, va).present };
}

/** Would a walk of va change anything (so a speculative walk is worth a step)? */
export function walkChanges(s: HwView, c: number, va: number): boolean {
  const w = walkPlan(s, c, va);
  if (!w) return false;
  if (w.freed) return s.freedTableWalk === NONE;
  if (!w.viaPsc) return true;
  if (!w.present) return false;
  const t = w.table;
  const p = pteSeen(s, c, t, va);
  if (!p.accessed) return true;
  const e = tlbEntry(s, c, s.cr3Pcid[c]!, va);
  return !e || e.ver !== p.ver || e.table !== t || e.frame !== p.frame || e.writable !== p.writable || e.dirty !== p.dirty;
}

/**
 * Perform a walk of va on CPU c. Returns the plan it followed (null: nothing
 * to walk). Walking a freed page-table page latches the ghost
 * `freedTableWalk` and fills nothing (the contents are garbage).
 */
export function walk(s: HwView, c: number, va: number): WalkPlan | null {
  const w = walkPlan(s, c, va);
  if (!w) return null;
  const pcid = s.cr3Pcid[c]!;
  if (!w.viaPsc) s.psc[c]![pcid]![w.slot] = w.table;
  if (w.freed) {
    s.freedTableWalk = latch(s.freedTableWalk, c);
    return w;
  }
  if (!w.present) return w;
  const t = w.table;
  const p = pteSeen(s, c, t, va);
  if (!p.accessed) {
    fence(s, c); // locked A update: memory now holds what c saw
    s.pteAccessed[t]![va] = true;
  }
  tlbFill(s, c, pcid, va, {
    ver: p.ver,
    table: t,
    frame: p.frame,
    writable: p.writable,
    dirty: p.dirty,
    global: pteGlobalOf(s, t, va) && cr4PgeOf(s, c), // user PTEs are never global; see pte-global.ts (not buffered by TSO); G is ignored with CR4.PGE=0 (cr4.ts)
  });
  return w;
}

export function describeWalk(s: HwView, c: number, va: number): string {
  const w = walkPlan(s, c, va);
  if (!w) return `walk va${va}: PMD not present`;
  const from = w.viaPsc ? `cached PMD → PT page ${w.table}` : `PMD → PT page ${w.table}`;
  if (w.freed) return `walk va${va} via ${from}: reads FREED page-table page`;
  if (!w.present) return `walk va${va} via ${from}: PTE not present${w.viaPsc ? '' : ' (PSC filled)'}`;
  const p = pteSeen(s, c, w.table, va);
  const l = pteLoc(w.table, va);
  const tso = forwarded(s, c, l) !== undefined ? ', forwarded from own store buffer' : inFlight(s, l) ? ', old PTE in memory: a newer store is still in a store buffer' : '';
  const drains = !p.accessed && sbLength(s, c) > 0 ? '; locked A update drains own store buffer' : '';
  return `walk va${va} via ${from} → TLB[pcid${s.cr3Pcid[c]}]=pfn${p.frame}${p.writable ? ' W' : ''}${p.dirty ? ' D' : ''} (pte v${p.ver}${tso})${drains}`;
}

// ------------------------------------------------------------------ actions

/** Speculative/prefetch page walks: any CPU, any page, at any time a root is loaded. */
export function speculativeWalkAction<D extends StateDecl>(sh: HwShape, allowed?: (s: View<D>, c: number) => boolean): ActionDef<D> {
  return {
    over: [sh.CPU, sh.PAGE],
    guard: (s, c, va) => (allowed ? allowed(s, c!) : true) && walkChanges(hw(s), c!, va!),
    effect: (s, c, va) => void walk(hw(s), c!, va!),
    describe: (s, c, va) => `speculative ${describeWalk(hw(s), c!, va!)}`,
  };
}

/** The CPU may drop any TLB entry at any time (SDM §4.10.2.2). */
export function tlbEvictAction<D extends StateDecl>(sh: HwShape): ActionDef<D> {
  return {
    over: [sh.CPU, sh.pcids, sh.PAGE],
    guard: (s, c, p, va) => hw(s).tlbVer[c!]![p!]![va!] !== NONE,
    effect: (s, c, p, va) => tlbDrop(hw(s), c!, p!, va!),
    describe: (s, c, p, va) => `TLB drops va${va} (pcid${p}, pte v${hw(s).tlbVer[c!]![p!]![va!]})`,
  };
}

/** ... and any paging-structure-cache entry (one per PCID and PMD slot). */
export function pscEvictAction<D extends StateDecl>(sh: HwShape): ActionDef<D> {
  // With one PMD per root the slot argument is left out (traces name the PCID only).
  const slots = pmdsOf(sh);
  return {
    over: slots === 1 ? [sh.CPU, sh.pcids] : [sh.CPU, sh.pcids, slots],
    guard: (s, c, p, k = 0) => hw(s).psc[c!]![p!]![k] !== NONE,
    effect: (s, c, p, k = 0) => pscDrop(hw(s), c!, p!, k),
    describe: (s, c, p, k = 0) => `PSC drops cached PMD (pcid${p}${slots === 1 ? '' : `, slot ${k}`})`,
  };
}
