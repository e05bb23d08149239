/**
 * x86-TSO store buffers and the interleaved LOADED_MM_SWITCHING window
 * (issue 3): default runs unchanged, the barrier-reliant verdicts, and the key
 * steps of each new counterexample.
 */
import { describe, expect, it } from 'vitest';
import type { ModelDef } from '../src/index.js';
import { run, stepsInOrder, verdictTableTests, type Params, type Step } from './helpers/model-tables.js';
import asyncModel from '../models/async.js';
import concurrentModel from '../models/concurrent.js';
import lazyModel from '../models/lazy.js';
import syncModel from '../models/sync.js';
import switchWindow from '../models/switch-window.js';

const M = (m: unknown) => m as ModelDef;
const memo = new Map<string, ReturnType<typeof run>>();
/** One exploration per (model, params) in this file. */
function runOnce(m: unknown, params: Params) {
  const key = `${M(m).name} ${JSON.stringify(params)}`;
  if (!memo.has(key)) memo.set(key, run(M(m), params));
  return memo.get(key)!;
}

function traceOf(m: unknown, params: Params, inv: string): Step[] {
  const r = runOnce(m, params);
  expect(r.verdict).toBe('violated');
  const v = r.violations.find((x) => x.invariant === inv);
  expect(v, `${inv} among ${r.violations.map((x) => x.invariant)}`).toBeDefined();
  return v!.trace;
}

verdictTableTests([M(switchWindow)]);

describe('store buffers are off by default', () => {
  // docs/models.md: the sequentially consistent state counts
  const counts: [unknown, number][] = [
    [syncModel, 197],
    [concurrentModel, 293],
    [asyncModel, 753],
    [lazyModel, 776],
  ];
  for (const [m, n] of counts)
    it(`${M(m).name}: defaults and tso=0 explore the same ${n} states`, () => {
      const a = run(M(m), {});
      const b = run(M(m), { tso: 0 });
      expect(a.states).toBe(n);
      expect(b.states).toBe(n);
      expect(b.verdict).toBe(a.verdict);
      expect(b.violations.map((v) => v.trace.length)).toEqual(a.violations.map((v) => v.trace.length));
    });
  it('no default run has a store-buffer drain step', () => {
    const r = run(M(asyncModel), {});
    for (const v of r.violations) expect(v.trace.some((st) => /store buffer/.test(st.description))).toBe(false);
  });
});

describe('TSO on, mainline barriers: holds', () => {
  for (const [m, params] of [
    [syncModel, { tso: 1 }],
    [concurrentModel, { tso: 2 }],
    [lazyModel, { tso: 1, freeTables: false }],
  ] as [unknown, Params][])
    it(`${M(m).name} ${JSON.stringify(params)}`, () => {
      const r = run(M(m), params);
      expect(r.verdict).toBe('holds');
      expect(r.warnings).toEqual([]);
    });
});

describe('lazy: the smp_mb() when leaving lazy mode', () => {
  it('is not needed without store buffers', () => {
    expect(run(M(lazyModel), { freeTables: false, leaveLazyMb: false }).verdict).toBe('holds');
  });
  it('without it under TSO: is_lazy=0 stays buffered, the CPU reads the old tlb_gen and keeps its TLB, the initiator reads is_lazy=1 and skips it', () => {
    const t = traceOf(lazyModel, { tso: 1, freeTables: false, leaveLazyMb: false }, 'no-stale-access');
    const [lazy, fill, zap, sw, send, ret] = stepsInOrder(t, [
      /enter_lazy_tlb .*a buffered store/,
      /walk va0 via PMD → PT page 0 → TLB\[pcid0\]=pfn0 .*locked A update drains own store buffer/,
      /munmap va0: ptep_get_and_clear/,
      /switch_mm\(mm0\): leave lazy \(no smp_mb\), tlb_gen 0 unchanged: no flush; store buffer \[is_lazy=0\]/,
      /flush_tlb_mm_range\(mm0 va0 new_tlb_gen=1\).*send flush IPI → nobody \(is_lazy=1 read for CPU\d: skipped\)/,
      /flush_tlb_mm_range\(va0\) returns/,
    ]);
    const cpu = t[lazy!]!.cpu;
    const initiator = t[zap!]!.cpu;
    expect(initiator).not.toBe(cpu);
    expect([t[fill!]!.cpu, t[sw!]!.cpu]).toEqual([cpu, cpu]);
    expect([t[send!]!.cpu, t[ret!]!.cpu]).toEqual([initiator, initiator]);
    expect(t[send!]!.description).toContain(`CPU${cpu}: skipped`);
    // the store is still buffered when the flush returns: no drain step on that CPU in between
    expect(t.slice(sw!, ret!).some((st) => /store buffer drains/.test(st.description))).toBe(false);
    const last = t[t.length - 1]!;
    expect(last.cpu).toBe(cpu);
    expect(last.description).toMatch(/^user read va0 via stale TLB entry \(pfn0, pte v0, flushed up to v1\)/);
  });
});

describe('switch-window: the LOADED_MM_SWITCHING window', () => {
  it('without the marker an NMI after the CR3 write reads user memory through the next mm\'s page tables', () => {
    const t = traceOf(switchWindow, { switchingMarker: false }, 'nmi-uaccess-current-mm');
    const [begin, cr3, nmi] = stepsInOrder(t, [
      /schedule → task of mm1, IRQs off: switch_mm\(mm1\) begins: set mm_cpumask bit/,
      /load_new_mm_cr3\(mm1\): CR3 write .*; loaded_mm still mm0, current->mm = mm0/,
      /^NMI: nmi_uaccess_okay\(\) → read va0 via page walk \(pfn1, .*\[current->mm=mm0, loaded_mm=mm0, CR3 → mm1's page tables\]/,
    ]);
    expect(new Set([t[begin!]!.cpu, t[cr3!]!.cpu, t[nmi!]!.cpu])).toEqual(new Set([0]));
    expect(nmi).toBe(t.length - 1);
    expect(t.some((st) => /loaded_mm = mm1/.test(st.description))).toBe(false);
  });
  it('with the marker the NMI is refused in the window; an atomic switch has no window', () => {
    expect(runOnce(switchWindow, {}).verdict).toBe('holds');
    expect(runOnce(switchWindow, { switchingMarker: false, splitSwitch: false }).verdict).toBe('holds');
  });
  it('without the marker a flush during the window also misses the switching CPU (should_flush_tlb)', () => {
    const r = runOnce(switchWindow, { switchingMarker: false });
    expect(r.violations.map((v) => v.invariant)).toContain('no-stale-access');
  });
  it('under TSO without the else-branch smp_mb(): the LOADED_MM_SWITCHING store is buffered when the initiator reads loaded_mm, and the switch reuses the old ASID without a flush', () => {
    expect(runOnce(switchWindow, { switchingMb: false }).verdict).toBe('holds');
    const t = traceOf(switchWindow, { tso: 1, switchingMb: false }, 'no-stale-access');
    const [, fill, , back, zap, send, cr3, , ret] = stepsInOrder(t, [
      /switch_mm\(mm1\) begins/,
      /TLB\[pcid0\]=pfn0/,
      /loaded_mm = mm1; switch_to/,
      /switch_mm\(mm0\) begins: loaded_mm=LOADED_MM_SWITCHING, no smp_mb, tlb_gen 0 → asid 0; store buffer \[loaded_mm=LOADED_MM_SWITCHING\]/,
      /munmap va0: ptep_get_and_clear/,
      /flush_tlb_mm_range\(mm0 va0 new_tlb_gen=1\): should_flush_tlb sees CPU0 loaded_mm=mm1 in memory; send flush IPI → nobody/,
      /load_new_mm_cr3\(mm0\): CR3 write no-flush/,
      /loaded_mm = mm0; switch_to/,
      /flush_tlb_mm_range\(va0\) returns/,
    ]);
    expect([t[fill!]!.cpu, t[back!]!.cpu, t[cr3!]!.cpu]).toEqual([0, 0, 0]);
    expect([t[zap!]!.cpu, t[send!]!.cpu, t[ret!]!.cpu]).toEqual([1, 1, 1]);
    const last = t[t.length - 1]!;
    expect(last.cpu).toBe(0);
    expect(last.description).toMatch(/^user read va0 via stale TLB entry \(pfn0, pte v0, flushed up to v1\)/);
  });
});
