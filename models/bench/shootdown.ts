/**
 * Benchmark protocol `shootdown` — implements ../shared/bench/shootdown-spec.md
 * exactly (same variables, same rules, same invariant), so that its state and
 * transition counts can be compared with SPIN and Rumur on the same state space.
 * It is a benchmark, not a faithful TLB model (see models/async.ts for that).
 */
import { array, bool, cpus, defineModel, int, machine, NONE, ref, sort } from '../../src/index.js';

export default defineModel({
  name: 'shootdown',
  description:
    'Benchmark TLB shootdown: CPUs cache page versions, one flusher at a time bumps a PTE and IPIs every other CPU; ' +
    'in `sync` the handler flushes before acknowledging, in `async` it acknowledges first and flushes later ' +
    '(with NMI=1 an NMI may touch user memory in between).',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs' },
    P: { default: 1, min: 1, max: 3, doc: 'virtual pages' },
    K: { default: 1, min: 1, max: 3, doc: 'remaps allowed per page (PTE versions 0..K)' },
    VARIANT: { default: 'sync', values: ['sync', 'async'], doc: 'IPI handler flushes before (sync) or after (async) acknowledging' },
    NMI: { default: 0, min: 0, max: 1, doc: 'async: an NMI may touch user memory between ack and flush' },
  },
  build: ({ N, P, K, VARIANT, NMI }) => {
    const CPU = cpus(N);
    // Not symmetric: the spec resets fpage to the literal page 0 when idle,
    // which a page permutation would not preserve.
    const PAGE = sort('page', P, { symmetric: false });
    const async = VARIANT === 'async';
    const flushAll = (tlb: number[]) => {
      for (let p = 0; p < P; p++) tlb[p] = NONE;
    };
    const state = {
      pte: array(PAGE, int(0, K)),
      done: array(PAGE, int(0, K)),
      tlb: array(CPU, array(PAGE, int(NONE, K, { init: NONE }))),
      busy: ref(CPU, { none: true }),
      fpage: int(0, P - 1),
      pending: array(CPU, bool()),
      inirq: array(CPU, bool()),
    };
    return machine(state, {
      actions: {
        walk: {
          over: [CPU, PAGE],
          guard: (s, c, p) => s.tlb[c]![p] !== s.pte[p],
          effect: (s, c, p) => {
            s.tlb[c]![p] = s.pte[p]!;
          },
          describe: (s, c, p) => `walk va${p} → TLB = v${s.pte[p]}`,
        },
        evict: {
          over: [CPU, PAGE],
          guard: (s, c, p) => s.tlb[c]![p] !== NONE,
          effect: (s, c, p) => {
            s.tlb[c]![p] = NONE;
          },
          describe: (s, c, p) => `evict va${p} (v${s.tlb[c]![p]})`,
        },
        start: {
          over: [CPU, PAGE],
          guard: (s, c, p) => s.busy === NONE && s.pte[p]! < K && !s.inirq[c],
          effect: (s, c, p) => {
            s.pte[p]!++;
            s.busy = c;
            s.fpage = p;
            s.tlb[c]![p] = NONE;
            for (let d = 0; d < N; d++) if (d !== c) s.pending[d] = true;
          },
          describe: (s, c, p) => `PTE va${p}: v${s.pte[p]} → v${s.pte[p]! + 1}; local flush; send flush IPI → all`,
        },
        ...(async
          ? {
              ack: {
                over: [CPU],
                guard: (s, c) => s.pending[c]! && !s.inirq[c],
                effect: (s, c) => {
                  s.inirq[c] = true;
                  s.pending[c] = false;
                },
                describe: () => 'IPI: copy CSD, csd unlock (ack)',
              },
              flush: {
                over: [CPU],
                guard: (s, c) => s.inirq[c]!,
                effect: (s, c) => {
                  flushAll(s.tlb[c]!);
                  s.inirq[c] = false;
                },
                describe: () => 'flush TLB',
              },
            }
          : {
              ipi: {
                over: [CPU],
                guard: (s, c) => s.pending[c]!,
                effect: (s, c) => {
                  flushAll(s.tlb[c]!);
                  s.pending[c] = false;
                },
                describe: () => 'IPI: flush TLB, csd unlock',
              },
            }),
        finish: {
          over: [CPU],
          guard: (s, c) => s.busy === c && !s.pending.includes(true),
          effect: (s) => {
            s.done[s.fpage] = s.pte[s.fpage]!;
            s.busy = NONE;
            s.fpage = 0;
          },
          describe: (s) => `flush of va${s.fpage} returns (v < ${s.pte[s.fpage]} dead)`,
        },
      },
      invariants: {
        'no-stale-access': {
          doc: 'A CPU outside a flush and outside the IPI window (or in it, with NMI=1) holds no version older than done[p].',
          // The spec's form, one case per CPU and page.
          over: [CPU, PAGE],
          holds: (s, c, p) => {
            const v = s.tlb[c]![p]!;
            return v === NONE || v >= s.done[p]! || s.busy === c || (s.inirq[c]! && NMI === 0);
          },
          explain: (s, c, p) =>
            `CPU${c} can still use va${p} → v${s.tlb[c]![p]} although the flush of every version < ${s.done[p]} has returned${s.inirq[c] ? ' (NMI inside the IPI window)' : ''}`,
        },
      },
    });
  },
  expect: [
    { params: { VARIANT: 'sync' }, verdict: 'holds' },
    { params: { VARIANT: 'async', NMI: 0 }, verdict: 'holds' },
    { params: { VARIANT: 'async', NMI: 1 }, verdict: 'violated', invariant: 'no-stale-access' },
  ],
});
