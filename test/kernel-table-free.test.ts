/**
 * Page-table freeing for lockless walkers (src/kernel/table-free.ts), the
 * gup_fast walker (src/kernel/gup-fast.ts), and the model built from them
 * (models/gup-pv-free.ts): its verdict table and the historic trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { bits, NONE, type ModelDef, type View } from '../src/index.js';
import {
  gupFastBegin,
  gupFastEnd,
  gupFastFields,
  gupFastReadPmd,
  gupFastReadPte,
  MM0,
  pmdClear,
  tableFreeFields,
  tableFreeReady,
  tableFreeRun,
  tableSyncIpi,
  tableSyncIpiDeliverable,
  tlbRemoveTable,
  world,
} from '../src/kernel/index.js';
import gup from '../models/gup-pv-free.js';
import { run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

function fresh(N = 3) {
  const w = world({ N, P: 1, OPS: 1 });
  const decl = { ...w.fields, ...tableFreeFields(w.hwShape), ...gupFastFields(w.hwShape) };
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  return s;
}

describe('tlb_remove_table', () => {
  it('direct: the page is freed at once', () => {
    const s = fresh();
    expect(tlbRemoveTable(s, 0, 0, 'direct')).toBe('free PT page 0');
    expect(s.tableFreed[0]).toBe(true);
  });

  it('rcu: waits for the CPUs in an IRQs-off section at call_rcu, and only for them; local_irq_restore is their quiescent state', () => {
    const s = fresh();
    gupFastBegin(s, 1);
    tlbRemoveTable(s, 0, 0, 'rcu');
    expect(s.tableFreed[0]).toBe(false);
    expect(bits.has(s.tableWaitsFor[0], 1)).toBe(true);
    expect(bits.has(s.tableWaitsFor[0], 2)).toBe(false); // IRQs were on
    // A section that begins after call_rcu is not waited for.
    gupFastBegin(s, 2);
    expect(tableFreeReady(s, 0)).toBe(false);
    s.gupStage[1] = 'done';
    gupFastEnd(s, 1, 'rcu');
    expect(tableFreeReady(s, 0)).toBe(true);
    expect(tableFreeRun(s, 0)).toBe('free PT page 0');
    expect([s.tableFreed[0], s.tableQueued[0]]).toEqual([true, NONE]);
  });

  it('ipi-sync: waits for every other CPU to take the IPI, which it can only with IRQs on; a quiescent state does not count', () => {
    const s = fresh();
    gupFastBegin(s, 1);
    tlbRemoveTable(s, 0, 0, 'ipi-sync');
    expect(tableSyncIpiDeliverable(s, 0, 1)).toBe(false);
    expect(tableSyncIpiDeliverable(s, 0, 2)).toBe(true);
    tableSyncIpi(s, 0, 2);
    s.gupStage[1] = 'done';
    gupFastEnd(s, 1, 'ipi-sync');
    expect(tableFreeReady(s, 0)).toBe(false);
    tableSyncIpi(s, 0, 1);
    expect(tableFreeReady(s, 0)).toBe(true);
  });
});

describe('gup_fast', () => {
  it('IRQs off for the walk; pmd_none falls back; a freed PT page read is the ghost freedTableWalk', () => {
    const s = fresh();
    gupFastBegin(s, 1);
    expect(s.irqOff[1]).toBe(true);
    expect(gupFastReadPmd(s, 1, MM0, 0)).toBe('gup_fast: READ_ONCE(pmd) → PT page 0');
    expect(gupFastReadPte(s, 1, 0)).toBe('gup_fast: READ_ONCE(pte va0) → pfn0, get_page');
    expect(s.freedTableWalk).toBe(NONE);
    gupFastEnd(s, 1, 'direct');
    expect([s.irqOff[1], s.gupStage[1]]).toEqual([false, 'idle']);

    gupFastBegin(s, 1);
    gupFastReadPmd(s, 1, MM0, 0);
    pmdClear(s, MM0);
    s.tableFreed[0] = true;
    expect(gupFastReadPte(s, 1, 0)).toMatch(/reads FREED page-table page/);
    expect(s.freedTableWalk).toBe(1);

    const t = fresh();
    pmdClear(t, MM0);
    gupFastBegin(t, 2);
    expect(gupFastReadPmd(t, 2, MM0, 0)).toMatch(/pmd_none, fall back/);
    expect(t.gupStage[2]).toBe('done');
  });
});

verdictTableTests([gup as unknown as ModelDef]);

describe('gup-pv-free: the race 9e52fc2b50de closed', () => {
  it('with the PV flush and a direct free, the PT page is freed while gup_fast on the other CPU still walks it', () => {
    const r = run(gup as unknown as ModelDef, { flush: 'pv' });
    const t = r.violations.find((v) => v.invariant === 'no-freed-table-walk')!.trace;
    const [begin, pmd, clear, pv, free, read] = stepsInOrder(t, [
      /gup_fast: local_irq_save/,
      /gup_fast: READ_ONCE\(pmd\) → PT page 0/,
      /pmd_clear/,
      /PV flush hypercall/,
      /tlb_finish_mmu: free pfn0 and PT page 0/,
      /reads FREED page-table page/,
    ]);
    const walker = t[begin!]!.cpu;
    for (const i of [pmd, read]) expect(t[i!]!.cpu).toBe(walker);
    for (const i of [clear, pv, free]) expect(t[i!]!.cpu).not.toBe(walker);
    // The walker never enabled IRQs in between.
    expect(t.slice(begin!, read!).some((st) => st.cpu === walker && /local_irq_restore/.test(st.description))).toBe(false);
  });
});
