/**
 * pte_free_tlb() and the gathered range (src/kernel/mmu-gather.ts) with
 * several page-table pages per mm, and the model built on them and on
 * EFER.TCE (models/tce-free-pgtables.ts): its verdict table and trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { NONE, type ModelDef, type View } from '../src/index.js';
import { MM0, mmuGatherFields, pteFreeTlb, tlbFinishMmu, tlbGatherMmu, tlbZapPte, world, type FlushInfo } from '../src/kernel/index.js';
import tceFreePgtables from '../models/tce-free-pgtables.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const w = world({ N: 2, P: 4, OPS: 1, pmds: 2, maps: (_mm, va) => va < 2 });
const decl = { ...w.fields, ...mmuGatherFields(w.hwShape) };
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  return s;
};

describe('pte_free_tlb and the gathered range', () => {
  const gathered = (rangeCoversTable: boolean) => {
    const s = fresh();
    tlbGatherMmu(s, 0, MM0);
    tlbZapPte(s, 0, 1);
    const phrase = pteFreeTlb(s, 0, 1, { rangeCoversTable });
    return { s, phrase };
  };

  it('unhooks the PMD, sets freed_tables and batches the table; mainline grows the range over the table\'s first page', () => {
    const { s, phrase } = gathered(true);
    expect(phrase).toBe('free_pte_range: pmd_clear (PT page 1), pte_free_tlb (range += va2)');
    expect([s.pmd[MM0], s.gatherVa[0], s.gatherVaEnd[0], s.gatherFreedTables[0], s.gatherTables[0], s.tableFreed[1]]).toEqual([[0, NONE], 1, 3, true, [false, true], false]);
    const short = gathered(false);
    expect(short.phrase).toMatch(/pte_free_tlb \(range unchanged\)$/);
    expect([short.s.gatherVa[0], short.s.gatherVaEnd[0], short.s.gatherFreedTables[0]]).toEqual([1, 2, true]);
  });

  it('tlb_finish_mmu flushes the whole gathered range with freed_tables, then frees the frame and the batched table', () => {
    const { s } = gathered(true);
    const calls: FlushInfo[] = [];
    const out = tlbFinishMmu(s, 0, { nestedFlush: true, tables: w.tablesOf(MM0), flush: (_c, f) => (calls.push(f), 'flushed') });
    expect(calls).toEqual([{ mm: MM0, va: 1, vaEnd: 3, newGen: 0, freedTables: true }]);
    expect(out).toBe('tlb_finish_mmu: flushed; free pfn1; free PT page 1; dec_tlb_flush_pending');
    expect([s.tableFreed[1], s.frameFreed[1], s.gatherTables[0], s.gatherVa[0], s.gatherVaEnd[0]]).toEqual([true, true, [false, false], NONE, 0]);
  });

  it('freeing a PMD slot that has no page table is a model error', () => {
    const s = fresh();
    tlbGatherMmu(s, 0, MM0);
    pteFreeTlb(s, 0, 1, { rangeCoversTable: true });
    expect(() => pteFreeTlb(s, 0, 1, { rangeCoversTable: true })).toThrow(/CPU0 frees the page table of PMD slot 1 of mm0, which has none/);
  });
});

verdictTableTests([tceFreePgtables as unknown as ModelDef]);

describe('tce-free-pgtables: the flush must cover each freed table under EFER.TCE', () => {
  const m = tceFreePgtables as unknown as ModelDef;

  it('without the range rule, INVLPG va0 keeps the cached PMD of va1 and a walk reads the freed PT page 1', () => {
    const t = run(m, { rangeCoversTable: false }).violations.find((v) => v.invariant === 'no-freed-table-walk')!.trace;
    const [, cache, , flush, walk] = stepsInOrder(t, [
      /free_pte_range: pmd_clear \(PT page 0\), pte_free_tlb \(range unchanged\)/,
      /speculative walk va1 via PMD → PT page 1: PTE not present \(PSC filled\)/,
      /free_pte_range: pmd_clear \(PT page 1\), pte_free_tlb \(range unchanged\)/,
      /tlb_finish_mmu: flush_tlb_mm_range\(mm0 va0 new_tlb_gen=1 freed_tables\): .*INVLPG va0.*free PT page 1/,
      /speculative walk va1 via cached PMD → PT page 1: reads FREED page-table page/,
    ]);
    expect(t[walk!]!.cpu).toBe(t[cache!]!.cpu);
    expect(t[flush!]!.description).not.toMatch(/INVLPG va1/);
  });

  it('a cached PMD of the freed table survives the flush only with TCE and the short range', () => {
    const stale = (s: any) => s.tableFreed[1] && s.psc.some((c: number[][]) => c[0]![1] === 1);
    expect(reaches(m, { rangeCoversTable: false }, stale)).toBe(true);
    expect(reaches(m, { rangeCoversTable: false, tce: false }, stale)).toBe(false);
    expect(reaches(m, {}, stale)).toBe(false);
    // ... and the window it needs is there with the fix too: the PMD of va1 cached, PT page 1 unhooked, not yet freed.
    expect(reaches(m, {}, (s) => s.pmd[0][1] === NONE && !s.tableFreed[1] && s.psc.some((c: number[][]) => c[0]![1] === 1))).toBe(true);
  });
});
