/**
 * The mmu_gather block (src/kernel/mmu-gather.ts) on a hand-built world,
 * the one-step flush_tlb_mm_range, and the model built from them
 * (models/madv-nested.ts): its verdict table and the historic trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { NONE, type ModelDef, type View } from '../src/index.js';
import { tlbEntry, walk } from '../src/hw/index.js';
import {
  flushTlbMmRange,
  GATHER_ALL,
  MM0,
  mmTlbFlushNested,
  mmuGatherFields,
  TLB_FLUSH_ALL,
  tlbFinishMmu,
  tlbGatherMmu,
  tlbZapPte,
  world,
  type FlushInfo,
} from '../src/kernel/index.js';
import madv from '../models/madv-nested.js';
import { run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

function fresh(N = 3) {
  const w = world({ N, P: 1, OPS: 2 });
  const decl = { ...w.fields, ...mmuGatherFields(w.hwShape) };
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  return { s, w };
}

describe('mmu_gather', () => {
  it('tlb_gather_mmu counts the zaps in flight; mm_tlb_flush_nested is "more than one"', () => {
    const { s } = fresh();
    tlbGatherMmu(s, 0, MM0);
    expect(s.tlbFlushPending[MM0]).toBe(1);
    expect(mmTlbFlushNested(s, MM0)).toBe(false);
    tlbGatherMmu(s, 1, MM0);
    expect(mmTlbFlushNested(s, MM0)).toBe(true);
    expect([s.gatherMm[0], s.gatherMm[1], s.gatherMm[2]]).toEqual([MM0, MM0, NONE]);
  });

  it('a zap of a present PTE clears it and gathers its page and frame; of a none PTE, nothing', () => {
    const { s } = fresh();
    tlbGatherMmu(s, 0, MM0);
    tlbGatherMmu(s, 1, MM0);
    expect(tlbZapPte(s, 0, 0)).toMatch(/ptep_get_and_clear \(pfn0, pte v0→v1\)/);
    expect([s.ptePresent[0]![0], s.gatherVa[0], s.gatherFrames[0]![0]]).toEqual([false, 0, true]);
    expect(tlbZapPte(s, 1, 0)).toMatch(/pte_none, nothing gathered/);
    expect([s.gatherVa[1], s.gatherFrames[1]!.includes(true)]).toEqual([NONE, false]);
  });

  it('tlb_finish_mmu: flush the gathered page, then free the batched frame, then dec_tlb_flush_pending', () => {
    const { s } = fresh();
    tlbGatherMmu(s, 0, MM0);
    tlbZapPte(s, 0, 0);
    const calls: [FlushInfo, boolean][] = [];
    tlbFinishMmu(s, 0, { nestedFlush: true, tables: [0], flush: (_c, f) => (calls.push([f, s.frameFreed[0]!]), 'flushed') });
    // The frame is still allocated while the flush runs (pages are freed only after it).
    expect(calls).toEqual([[{ mm: MM0, va: 0, newGen: 0, freedTables: false }, false]]);
    expect(s.frameFreed[0]).toBe(true);
    expect([s.tlbFlushPending[MM0], s.gatherMm[0]]).toEqual([0, NONE]);
  });

  it('an empty range flushes nothing, unless another zap is in flight and the fix is on: then the whole mm, freed_tables', () => {
    for (const nestedFlush of [false, true]) {
      const { s } = fresh();
      tlbGatherMmu(s, 0, MM0);
      tlbGatherMmu(s, 1, MM0);
      tlbZapPte(s, 0, 0);
      tlbZapPte(s, 1, 0); // pte_none
      const calls: FlushInfo[] = [];
      const phrase = tlbFinishMmu(s, 1, { nestedFlush, tables: [0], flush: (_c, f) => (calls.push(f), 'flushed') });
      expect(calls).toEqual(nestedFlush ? [{ mm: MM0, va: TLB_FLUSH_ALL, newGen: 0, freedTables: true }] : []);
      expect(phrase).toMatch(nestedFlush ? /mm_tlb_flush_nested \(tlb_flush_pending=2\): flush all/ : /range empty: no flush/);
      expect(s.tlbFlushPending[MM0]).toBe(1);
    }
    expect(GATHER_ALL).not.toBe(NONE);
  });

  it("ghost: a zap that returns promises that the versions replaced before it looked are gone, even one another zap replaced", () => {
    const { s } = fresh();
    tlbGatherMmu(s, 0, MM0);
    tlbGatherMmu(s, 1, MM0);
    tlbZapPte(s, 0, 0); // v0 → v1
    tlbZapPte(s, 1, 0); // sees v1 (none)
    expect(s.flushedUpTo[0]![0]).toBe(0);
    tlbFinishMmu(s, 1, { nestedFlush: false, tables: [0], flush: () => '' });
    expect(s.flushedUpTo[0]![0]).toBe(1);
  });
});

describe('flushTlbMmRange after a zap', () => {
  it('bumps tlb_gen and drops the entry on every CPU of mm_cpumask, the initiator included; the ghost is stamped', () => {
    const { s, w } = fresh();
    for (let c = 0; c < 3; c++) walk(s, c, 0);
    expect(tlbEntry(s, 2, 0, 0)).not.toBeNull();
    tlbGatherMmu(s, 0, MM0);
    tlbZapPte(s, 0, 0);
    const phrase = flushTlbMmRange(s, 0, { mm: MM0, va: 0, freedTables: false }, w.k, [0]);
    expect(phrase).toMatch(/new_tlb_gen=1\): local flush_tlb_func: INVLPG va0, tlb_gen 0→1; CPU1 flush_tlb_func: INVLPG va0, tlb_gen 0→1; CPU2 flush_tlb_func: INVLPG va0, tlb_gen 0→1$/);
    expect(s.tlbGen[MM0]).toBe(1);
    for (let c = 0; c < 3; c++) expect(tlbEntry(s, c, 0, 0)).toBeNull();
    expect(s.flushedUpTo[0]![0]).toBe(1);
  });
});

verdictTableTests([madv as unknown as ModelDef]);

describe('madv-nested: the race of 99baac21e458', () => {
  it('without the nested check, the zap that found pte_none returns and its thread reads the old page through its TLB', () => {
    const r = run(madv as unknown as ModelDef, { nestedFlush: false });
    const t = r.violations.find((v) => v.invariant === 'no-stale-access')!.trace;
    const [fill, clear, none, ret, stale] = stepsInOrder(t, [
      /TLB\[pcid0\]=pfn0/,
      /ptep_get_and_clear/,
      /pte_none, nothing gathered/,
      /range empty: no flush.*madvise returns/,
      /user (read|write) va0 via stale TLB entry/,
    ]);
    expect(t[clear!]!.cpu).not.toBe(t[none!]!.cpu);
    expect(t[ret!]!.cpu).toBe(t[none!]!.cpu);
    expect(t[stale!]!.cpu).toBe(t[fill!]!.cpu);
    // The zapper has not flushed yet.
    expect(t.slice(clear!).some((st) => st.cpu === t[clear!]!.cpu && /tlb_finish_mmu/.test(st.description))).toBe(false);
  });
});
