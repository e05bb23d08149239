/**
 * "mm: relaxed TLB flushes and other optimizations" (Nadav Amit, RFC, Jul 2022;
 * seed 003; never merged — docs/x86-semantics-review.md §2.7).
 * - RFC 10/14: a change that only ADDS permissions (RO→RW) bumps mm->tlb_gen
 *   and flushes only locally (flush_tlb_func on this CPU), no shootdown.
 * - RFC 08/14: flush_tlb_fix_spurious_fault(): a CPU that faults although the
 *   PTE permits the access compares ctxs[asid].tlb_gen with mm->tlb_gen and,
 *   if behind, does a full local flush (flush_tlb_func with TLB_FLUSH_ALL,
 *   new_tlb_gen 0). On mainline x86 the hook is a no-op: the #PF itself drops
 *   the faulting entry (SDM §4.10.4.1) — `spuriousFix=none`; `faulting-address`
 *   drops only that address, which the #PF already did, so it behaves the same.
 * - RFC 12/14: RW→RO on a PTE with D=0: no flush at all (`skipCleanFlush`),
 *   relying on a write through the stale clean RW entry re-reading the PTE to
 *   set D (hardware option `dirtySetRechecksPte`).
 * A strict flush is modelled as one step in which every CPU runs
 * flush_tlb_func() (the IPI protocol itself is checked by models/sync.ts).
 * `reclaim` adds one page-reclaim zap (ptep_get_and_clear harvesting D, strict
 * flush) so that a lost dirty bit becomes observable.
 *
 * Properties:
 * - no-permission-escalation: once the mprotect (and its flush, if any) has
 *   returned, no write succeeds while the PTE is not present+writable.
 * - no-lost-dirty (properties/).
 * - bounded-spurious-faults: the decidable form of "no CPU faults forever on
 *   the same stale entry": a ghost counter per CPU of spurious faults taken
 *   while its ctxs[asid].tlb_gen is behind mm->tlb_gen, reset when it catches
 *   up; it must never reach 2, i.e. one spurious-fault handling brings the CPU
 *   up to date so no further stale entry of the relaxed change can fault. (A
 *   literal "same entry" counter can never exceed 1 on x86, as the #PF drops
 *   the entry; the per-generation bound is what the RFC's full flush buys.)
 */
import { array, defineModel, enumOf, int, machine, NONE, bool, ref, type View } from '../src/index.js';
import {
  accessPlan,
  access,
  accessPossible,
  defaultHwOptions,
  describeAccess,
  hwParams,
  pteRead,
  pteStore,
  speculativeWalkAction,
  type HwOptions,
} from '../src/hw/index.js';
import {
  flushStartedAndReturned,
  flushTlbFunc,
  incMmTlbGen,
  MM0,
  phraseOf,
  ptepGetAndClear,
  TLB_FLUSH_ALL,
  world,
  type WorldView,
} from '../src/kernel/index.js';
import { noLostDirty } from '../properties/index.js';

export default defineModel({
  name: 'relaxed',
  description: 'Relaxed (local-only) flushes for permission additions, generation-checked spurious-fault fixup, and no flush on RW→RO of a clean PTE.',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs' },
    P: { default: 2, min: 1, max: 2, doc: 'user pages (all changed by the one mprotect)' },
    change: { default: 'ro-to-rw', values: ['ro-to-rw', 'rw-to-ro'], doc: 'what the mprotect does' },
    relaxedOnRemoval: { default: false, doc: 'BUG: use the relaxed (local-only) flush for a permission removal' },
    skipCleanFlush: { default: false, doc: 'RFC 12/14: no flush at all on RW→RO when the PTE is clean' },
    spuriousFix: { default: 'gen-compare', values: ['gen-compare', 'none', 'faulting-address'], doc: 'spurious #PF fixup: RFC full local flush if behind / mainline no-op / flush only the faulting address' },
    reclaim: { default: false, doc: 'one page reclaim after the mprotect: ptep_get_and_clear (harvest D) + strict flush' },
    ...hwParams,
  },
  build: (p) => {
    const OPS = 2;
    const w = world({ N: p.N, P: p.P, OPS });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const o: HwOptions = { ...defaultHwOptions, dirtySetRechecksPte: p.dirtySetRechecksPte, dirtySetOnFaultingWrite: p.dirtySetOnFaultingWrite };
    const state = {
      ...w.fields,
      /** mprotect: not yet / done (flush returned). */
      mprot: enumOf(['todo', 'done']),
      /** reclaim: not yet / PTE zapped, flush pending / done. */
      recl: enumOf(['todo', 'zapped', 'done']),
      reclVa: int(0, p.P - 1),
      // ghost: the first CPU that wrote through a stale writable entry (a ref: symmetry maps it).
      escalated: ref(CPU, { none: true }),
      spurious: array(CPU, int(0, 2)),
      /** ghost: CPU is handling a spurious #PF (the fixup is the next step). */
      inFault: array(CPU, bool()),
    };
    type S = typeof state;
    const adds = p.change === 'ro-to-rw';
    const behind = (x: WorldView, c: number) => x.ctxTlbGen[c][x.loadedAsid[c]] < x.tlbGen[MM0];
    const allFlush = (x: WorldView, f: { mm: number; va: number; newGen: number; freedTables: boolean }) => {
      for (let c = 0; c < p.N; c++) flushTlbFunc(x, c, f, k);
    };
    const mprotect = (x: WorldView & View<S>, c: number): string => {
      let clean = true;
      for (let va = 0; va < p.P; va++) {
        const pte = pteRead(x, 0, va);
        if (pte.dirty) clean = false;
        pteStore(x, 0, va, { ...pte, writable: adds });
      }
      const gen = incMmTlbGen(x, MM0);
      const f = { mm: MM0, va: TLB_FLUSH_ALL, newGen: gen, freedTables: false };
      let how: string;
      if (!adds && p.skipCleanFlush && clean) how = 'PTE clean: no flush';
      else if (adds || p.relaxedOnRemoval) {
        how = `relaxed: local ${flushTlbFunc(x, c, f, k)}`;
      } else {
        allFlush(x, f);
        how = 'strict: every CPU runs flush_tlb_func';
      }
      flushStartedAndReturned(x, c, f, [0]);
      x.mprot = 'done';
      return `mprotect(${adds ? 'RO→RW' : 'RW→RO'}) all pages, tlb_gen=${gen}: ${how}; returns`;
    };
    const writeEscalates = (x: WorldView & View<S>, c: number, va: number) => {
      const pl = accessPlan(x, c, va, 'write', o);
      const pte = pteRead(x, 0, va);
      return !!pl && pl.outcome === 'ok' && !(pte.present && pte.writable) && x.mprot === 'done' && x.recl !== 'zapped';
    };
    return machine(state, {
      init: (s) => {
        w.init(s);
        for (let va = 0; va < p.P; va++) s.pteWritable[0][va] = !adds;
      },
      actions: {
        mprotect: {
          over: [CPU],
          guard: (s, c) => s.mprot === 'todo' && !s.inFault[c],
          effect: (s, c) => void mprotect(s, c),
          describe: (s, c) => phraseOf(s, (x) => mprotect(x, c)),
        },
        ...(p.reclaim
          ? {
              reclaim_zap: {
                over: [CPU, PAGE],
                guard: (s, c, va) => s.mprot === 'done' && s.recl === 'todo' && s.ptePresent[0][va],
                effect: (s, c, va) => {
                  ptepGetAndClear(s, MM0, va);
                  s.reclVa = va;
                  s.recl = 'zapped';
                },
                describe: (s, c, va) => `reclaim: ptep_get_and_clear va${va} (D=${s.pteDirty[0][va] ? '1 → folio dirty' : '0'})`,
              },
              reclaim_flush: {
                over: [CPU],
                guard: (s) => s.recl === 'zapped',
                effect: (s, c) => {
                  const f = { mm: MM0, va: s.reclVa, newGen: incMmTlbGen(s, MM0), freedTables: false };
                  allFlush(s, f);
                  flushStartedAndReturned(s, c, f, [0]);
                  s.recl = 'done';
                },
                describe: (s) => `reclaim: strict flush of va${s.reclVa} returns`,
              },
            }
          : {}),
        user_access: {
          over: [CPU, PAGE, 2],
          guard: (s, c, va) => !s.inFault[c] && accessPossible(s, c, va),
          effect: (s, c, va, kd) => {
            const kind = kd === 0 ? 'read' : 'write';
            if (kind === 'write' && writeEscalates(s, c, va) && s.escalated === NONE) s.escalated = c;
            const pte = pteRead(s, 0, va);
            const pl = access(s, c, va, kind, o);
            const permits = pte.present && (kind === 'read' || pte.writable);
            if (pl && pl.outcome === 'fault' && permits) {
              // spurious #PF: the PTE already permits the access
              if (behind(s, c)) s.spurious[c] = Math.min(2, s.spurious[c] + 1);
              s.inFault[c] = true;
            }
          },
          describe: (s, c, va, kd) => {
            const kind = kd === 0 ? 'read' : 'write';
            const d = describeAccess(s, c, va, kind, o, 'user ');
            const pte = pteRead(s, 0, va);
            const spur = /#PF/.test(d) && pte.present && (kind === 'read' || pte.writable) ? ' — spurious (PTE permits it)' : '';
            return `${d}${spur}${kind === 'write' && writeEscalates(s, c, va) ? ' — PTE is READ-ONLY' : ''}`;
          },
        },
        ...(adds ? { spurious_fixup: {
          over: [CPU],
          guard: (s, c) => s.inFault[c],
          effect: (s, c) => {
            if (p.spuriousFix === 'gen-compare') flushTlbFunc(s, c, { mm: MM0, va: TLB_FLUSH_ALL, newGen: 0, freedTables: false }, k);
            if (!behind(s, c)) s.spurious[c] = 0;
            s.inFault[c] = false;
          },
          describe: (s, c) =>
            phraseOf(s, (x) =>
              p.spuriousFix === 'gen-compare'
                ? `flush_tlb_fix_spurious_fault: ${flushTlbFunc(x, c, { mm: MM0, va: TLB_FLUSH_ALL, newGen: 0, freedTables: false }, k)}; retry`
                : `flush_tlb_fix_spurious_fault: ${p.spuriousFix === 'none' ? 'no-op' : 'INVLPG faulting address only'} (local tlb_gen ${x.ctxTlbGen[c][0]} < mm ${x.tlbGen[MM0]}); retry`,
            ),
        } } : {}),
        speculative_walk: speculativeWalkAction<S>(sh, (s, c) => !s.inFault[c]),
      },
      invariants: {
        'no-permission-escalation': {
          doc: 'After the mprotect (and its flush) returned, no write succeeds through a PTE that is not present+writable.',
          holds: (s) => s.escalated === NONE,
          explain: (s) => `CPU${s.escalated} wrote through a stale writable TLB entry after the PTE became read-only`,
        },
        'no-lost-dirty': noLostDirty<S>(),
        'bounded-spurious-faults': {
          doc: 'A CPU takes at most one spurious #PF per generation it is behind (the fixup brings it up to date).',
          holds: (s) => !s.spurious.includes(2),
          explain: (s) => `CPU${s.spurious.indexOf(2)} took a second spurious #PF while still behind mm->tlb_gen`,
        },
      },
      endState: () => true,
      // The liveness form of bounded-spurious-faults: a spurious #PF taken while behind ends with the CPU's TLB
      // generation caught up (the #PF handler, once entered, goes on: spurious_fixup weakly fair).
      ...(adds
        ? {
            liveness: { 'spurious-fault-catches-up': { doc: "after a spurious #PF the CPU's tlb_gen catches up with mm->tlb_gen", over: [CPU], from: (s: View<S>, c: number) => s.inFault[c]! && behind(s, c), to: (s: View<S>, c: number) => !behind(s, c) } },
            fairness: { spurious_fixup: 'weak' as const },
          }
        : {}),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { change: 'rw-to-ro' }, verdict: 'holds' },
    { params: { change: 'rw-to-ro', skipCleanFlush: true }, verdict: 'holds' },
    { params: { change: 'rw-to-ro', skipCleanFlush: true, reclaim: true }, verdict: 'holds' },
    { params: { change: 'rw-to-ro', skipCleanFlush: true, reclaim: true, dirtySetRechecksPte: false }, verdict: 'violated', invariant: 'no-lost-dirty' },
    { params: { change: 'rw-to-ro', relaxedOnRemoval: true }, verdict: 'violated', invariant: 'no-permission-escalation' },
    { params: { spuriousFix: 'none' }, verdict: 'violated', invariant: 'bounded-spurious-faults' },
    { params: { spuriousFix: 'faulting-address' }, verdict: 'violated', invariant: 'bounded-spurious-faults' },
    { params: { spuriousFix: 'none', P: 1 }, verdict: 'holds', note: 'one stale entry: the #PF alone fixes it (mainline x86)' },
    { params: {}, options: { liveness: true }, verdict: 'holds', note: 'the RFC fixup: a full local flush brings the CPU up to date' },
    { params: { spuriousFix: 'none', P: 1 }, options: { liveness: true }, verdict: 'violated', invariant: 'spurious-fault-catches-up(0)', note: 'mainline no-op: safe (the #PF drops the entry) but the CPU stays behind, so each other stale entry can fault again' },
  ],
});
