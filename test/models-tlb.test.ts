/**
 * Verdict table of the shootdown models (each model's `expect` block), plus
 * the key steps of each violation's shortest trace.
 */
import { describe, expect, it } from 'vitest';
import type { ModelDef } from '../src/index.js';
import { run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';
import asyncModel from '../models/async.js';
import concurrentModel from '../models/concurrent.js';
import lazyModel from '../models/lazy.js';
import syncModel from '../models/sync.js';

const models = [syncModel, concurrentModel, asyncModel, lazyModel] as unknown as ModelDef[];



verdictTableTests(models);

describe('sync and concurrent hold every property', () => {
  for (const m of [syncModel, concurrentModel] as unknown as ModelDef[])
    for (const params of [{}, { N: 3 }, { nmiUaccess: false, freeTables: false }] as Record<string, number | boolean>[])
      it(`${m.name} ${JSON.stringify(params)}`, () => {
        const r = run(m, params);
        expect(r.verdict).toBe('holds');
        expect(r.invariants).toEqual(['no-stale-access', 'no-lost-dirty', 'no-freed-table-walk', 'no-use-after-free']);
      });
});

describe('shortest traces', () => {
  it('async/NMI: target holds a translation, initiator clears the PTE and IPIs, target acks, flush returns, NMI reads via the stale entry', () => {
    const r = run(asyncModel as unknown as ModelDef, {});
    expect(r.verdict).toBe('violated');
    const v = r.violations.find((x) => x.invariant === 'no-stale-access')!;
    const t = v.trace;
    const [fill, zap, ipi, ack, ret] = stepsInOrder(t, [
      /va0 via page walk|walk va0 via PMD/,
      /munmap va0: ptep_get_and_clear/,
      /flush_tlb_mm_range.*send flush IPI/,
      /csd_unlock \(ack\)/,
      /flush_tlb_mm_range\(va0\) returns/,
    ]);
    const target = t[fill!]!.cpu;
    const initiator = t[zap!]!.cpu;
    expect(initiator).not.toBe(target);
    expect(t[ipi!]!.cpu).toBe(initiator);
    expect(t[ack!]!.cpu).toBe(target);
    expect(t[ret!]!.cpu).toBe(initiator);
    const last = t[t.length - 1]!;
    expect(last.cpu).toBe(target);
    expect(last.description).toMatch(/^NMI: read va0 via stale TLB entry/);
    // the target never ran its flush_tlb_func
    expect(t.some((st) => st.cpu === target && /flush_tlb_func/.test(st.description))).toBe(false);
    expect(v.reason).toMatch(new RegExp(`CPU${target}`));
  });

  it('async/freeTables: the acked-but-unflushed target walks its cached PMD into the freed page-table page', () => {
    const r = run(asyncModel as unknown as ModelDef, { nmiUaccess: false, freeTables: true });
    const t = r.violations.find((x) => x.invariant === 'no-freed-table-walk')!.trace;
    const [fill, zap, ack, , free] = stepsInOrder(t, [
      /va0 via page walk|walk va0 via PMD/,
      /pmd_clear/,
      /csd_unlock \(ack\)/,
      /returns/,
      /tlb_finish_mmu: free pfn0 and PT page 0/,
    ]);
    expect(t[zap!]!.cpu).not.toBe(t[fill!]!.cpu);
    expect(t[ack!]!.cpu).toBe(t[fill!]!.cpu);
    expect(t[free!]!.cpu).toBe(t[zap!]!.cpu);
    const last = t[t.length - 1]!;
    expect(last.cpu).toBe(t[fill!]!.cpu);
    expect(last.description).toMatch(/speculative walk va0 via cached PMD → PT page 0: reads FREED page-table page/);
  });

  it('lazy without ipiLazyOnFreedTables: the lazy CPU is skipped and walks into the freed page-table page', () => {
    const r = run(lazyModel as unknown as ModelDef, { ipiLazyOnFreedTables: false });
    expect(r.violations.map((v) => v.invariant)).toEqual(['no-freed-table-walk']);
    const t = r.violations[0]!.trace;
    const [lazy, , , send, , free] = stepsInOrder(t, [
      /enter_lazy_tlb/,
      /va0 via page walk|walk va0 via PMD/,
      /pmd_clear/,
      /send flush IPI → nobody/,
      /returns/,
      /free pfn0 and PT page 0/,
    ]);
    const lazyCpu = t[lazy!]!.cpu;
    expect(t[send!]!.cpu).not.toBe(lazyCpu);
    expect(t[free!]!.cpu).not.toBe(lazyCpu);
    expect(t[t.length - 1]!.cpu).toBe(lazyCpu);
    expect(t[t.length - 1]!.description).toMatch(/reads FREED page-table page/);
  });

  it('sync without dirtySetRechecksPte: a write through a clean entry after the PTE was harvested loses the dirty bit', () => {
    const r = run(syncModel as unknown as ModelDef, { dirtySetRechecksPte: false });
    expect(r.violations.map((v) => v.invariant)).toEqual(['no-lost-dirty']);
    const t = r.violations[0]!.trace;
    stepsInOrder(t, [/read va0 via page walk/, /ptep_get_and_clear \(pfn0, D=0/, /user write va0 via TLB entry .*sets D in PTE/]);
  });

  it('sync with waitIrqsOff: two initiators spinning with IRQs off deadlock', () => {
    const r = run(syncModel as unknown as ModelDef, { waitIrqsOff: true, P: 2, OPS: 2 });
    const d = r.violations.find((v) => v.kind === 'deadlock')!;
    expect(d).toBeDefined();
    const waits = d.trace.filter((st) => /wait \(IRQs OFF\)/.test(st.description)).map((st) => st.cpu);
    expect(new Set(waits).size).toBe(2);
  });
});
