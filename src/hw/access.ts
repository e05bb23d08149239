/**
 * Memory accesses to user pages (user mode, kernel uaccess, NMI handlers):
 * a TLB hit (own PCID or a global entry) or a walk that fills the TLB, then:
 * - read: uses the entry;
 * - write: #PF if the entry is not writable; if the entry's cached D is
 *   clear the CPU must set D in the PTE in memory first (SDM §4.8). With
 *   `dirtySetRechecksPte` that update re-reads the PTE and faults unless it is
 *   still present and writable (optionally still setting D, the pre-CET
 *   quirk); without it the D store lands in whatever PTE the walk finds.
 * A #PF drops the entry and the PSC entries of the current PCID (§4.10.4.1).
 * With store buffers the PTE reads forward from the CPU's own buffer and the
 * D update is a locked RMW that drains it first (store-buffer.ts).
 *
 * Ghost: the access records, through the entry's (page-table page, version),
 * whether it used a translation already declared dead by a returned flush
 * (staleUse), or a freed frame (uafUse); writes mark the frame written.
 */
import type { StateDecl, View } from '../engine/types.js';
import type { ActionDef } from '../engine/model.js';
import type { HwShape } from './shape.js';
import { accessGhostsOf, latch } from './ghost.js';
import { pageFaultInvalidate } from './invalidate.js';
import type { HwOptions } from './options.js';
import { pteSeen } from './pagetable.js';
import { pteGlobalOf } from './pte-global.js';
import { cr4PgeOf } from './cr4.js';
import { drainAction, fence } from './store-buffer.js';
import { tlbLookup, type TlbEntry } from './tlb.js';
import { hw, pscEvictAction, speculativeWalkAction, tlbEvictAction, walk, walkPlan, type HwView } from './walk.js';

export type AccessKind = 'read' | 'write';
export const ACCESS_KINDS: readonly AccessKind[] = ['read', 'write'];

export interface AccessPlan {
  /** Entry used; null = the access has to walk first. */
  hit: TlbEntry | null;
  outcome: 'ok' | 'fault';
  /** For writes through a clean entry: the PTE's D bit gets set in memory. */
  setsDirty: boolean;
}

/** The access can start: a usable TLB entry, or a walk that reaches a present PTE. */
export function accessPossible(s: HwView, c: number, va: number): boolean {
  if (tlbLookup(s, c, s.cr3Pcid[c]!, va)) return true;
  const w = walkPlan(s, c, va);
  return !!w && w.present;
}

function entryAfterWalk(s: HwView, c: number, va: number): TlbEntry | null {
  const w = walkPlan(s, c, va);
  if (!w || !w.present) return null;
  const t = w.table;
  const p = pteSeen(s, c, t, va);
  return { pcid: s.cr3Pcid[c]!, ver: p.ver, table: t, frame: p.frame, writable: p.writable, dirty: p.dirty, global: pteGlobalOf(s, t, va) && cr4PgeOf(s, c) };
}

export function accessPlan(s: HwView, c: number, va: number, kind: AccessKind, o: HwOptions): AccessPlan | null {
  const hit = tlbLookup(s, c, s.cr3Pcid[c]!, va);
  const e = hit ?? entryAfterWalk(s, c, va);
  if (!e) return null;
  if (kind === 'read') return { hit, outcome: 'ok', setsDirty: false };
  if (!e.writable) return { hit, outcome: 'fault', setsDirty: false };
  if (e.dirty) return { hit, outcome: 'ok', setsDirty: false };
  if (!o.dirtySetRechecksPte) return { hit, outcome: 'ok', setsDirty: true };
  const w = walkPlan(s, c, va);
  const ok = !!w && w.present && pteSeen(s, c, w.table, va).writable;
  return { hit, outcome: ok ? 'ok' : 'fault', setsDirty: ok || (o.dirtySetOnFaultingWrite && !!w && !w.freed) };
}

/** Whether using entry e now is a stale use (a covering flush has returned). */
export function isStale(s: HwView, e: TlbEntry, va: number): boolean {
  return e.ver < s.flushedUpTo[e.table]![va]!;
}

/** Perform the access; returns the plan it followed. */
export function access(s: HwView, c: number, va: number, kind: AccessKind, o: HwOptions): AccessPlan | null {
  const plan = accessPlan(s, c, va, kind, o);
  if (!plan) return null;
  if (!plan.hit) walk(s, c, va);
  const e = tlbLookup(s, c, s.cr3Pcid[c]!, va)!;
  const g = accessGhostsOf(s);
  if (plan.setsDirty) {
    const w = walkPlan(s, c, va);
    fence(s, c); // the D update is a locked RMW (SDM §9.1.2.1)
    if (w && !w.freed) s.pteDirty[w.table]![va] = true;
    // The write's D bit must land in a present PTE that maps the written frame.
    if (g && plan.outcome === 'ok' && !(w && !w.freed && s.ptePresent[w.table]![va] && s.pteFrame[w.table]![va] === e.frame)) g.dirtyLost = latch(g.dirtyLost, c);
  }
  if (plan.outcome === 'fault') {
    pageFaultInvalidate(s, c, va);
    return plan;
  }
  if (g && e.ver < g.permNarrowedUpTo[e.table]![va]! && (kind === 'write' || g.permNoRead[e.table]![va]!)) g.widerPermUse = latch(g.widerPermUse, c);
  if (isStale(s, e, va)) s.staleUse = latch(s.staleUse, c);
  if (s.frameFreed[e.frame]) s.uafUse = latch(s.uafUse, c);
  if (kind === 'write') {
    s.frameWritten[e.frame] = true;
    if (plan.setsDirty) s.tlbDirty[c]![e.pcid]![va] = true;
  }
  return plan;
}

export function describeAccess(s: HwView, c: number, va: number, kind: AccessKind, o: HwOptions, who = ''): string {
  const plan = accessPlan(s, c, va, kind, o);
  if (!plan) return `${who}${kind} va${va}: no translation`;
  const e = plan.hit ?? entryAfterWalk(s, c, va)!;
  const stale = isStale(s, e, va);
  const how = plan.hit ? `${stale ? 'stale ' : ''}TLB entry` : 'page walk';
  const what = `${who}${kind} va${va} via ${how} (pfn${e.frame}, pte v${e.ver}${stale ? `, flushed up to v${s.flushedUpTo[e.table]![va]}` : ''})`;
  if (plan.outcome === 'fault') return `${what}: #PF (PTE no longer present+writable)${plan.setsDirty ? ', D set anyway' : ''}`;
  const freed = s.frameFreed[e.frame] ? ' — frame already FREED' : '';
  return plan.setsDirty ? `${what}, sets D in PTE${freed}` : `${what}${freed}`;
}

// ------------------------------------------------------------------ actions

/**
 * Accesses of user pages by CPU c whenever `allowed(s, c)` (the model says
 * when: user mode, uaccess, an NMI handler...). `who` prefixes the trace
 * phrase, e.g. "NMI: ". Instantiated over [CPU, PAGE, read|write]; pass
 * `kinds: ['read']` to keep the state space small.
 */
export function accessAction<D extends StateDecl>(
  sh: HwShape,
  o: HwOptions,
  allowed: (s: View<D>, c: number) => boolean,
  opts: { who?: string; kinds?: readonly AccessKind[] } = {},
): ActionDef<D> {
  const kinds = opts.kinds ?? ACCESS_KINDS;
  return {
    over: [sh.CPU, sh.PAGE, kinds.length],
    guard: (s, c, va) => allowed(s, c!) && accessPossible(hw(s), c!, va!),
    effect: (s, c, va, k) => void access(hw(s), c!, va!, kinds[k!]!, o),
    describe: (s, c, va, k) => describeAccess(hw(s), c!, va!, kinds[k!]!, o, opts.who ?? ''),
  };
}

/**
 * The hardware's background behaviour plus user-memory accesses, as one
 * bundle for a protocol model: user-mode reads/writes while `userMode`,
 * NMI-handler reads while `nmiUaccess` (omitted when not given), speculative walks, TLB and PSC
 * evictions, and with store buffers their nondeterministic drains.
 */
export function hardwareActions<D extends StateDecl>(
  sh: HwShape,
  o: HwOptions,
  when: { userMode: (s: View<D>, c: number) => boolean; nmiUaccess?: ((s: View<D>, c: number) => boolean) | undefined },
): Record<string, ActionDef<D>> {
  return {
    user_access: accessAction<D>(sh, o, when.userMode, { who: 'user ' }),
    ...(when.nmiUaccess ? { nmi_uaccess: accessAction<D>(sh, o, when.nmiUaccess, { who: 'NMI: ', kinds: ['read'] }) } : {}),
    speculative_walk: speculativeWalkAction<D>(sh),
    tlb_evict: tlbEvictAction<D>(sh),
    psc_evict: pscEvictAction<D>(sh),
    ...(o.storeBufferDepth > 0 ? { sb_drain: drainAction<D>(sh) } : {}),
  };
}
