/**
 * The flush ghost behind no-stale-access (src/kernel/flush.ts): a returned
 * flush kills exactly the PTE versions replaced before it started
 * (inc_mm_tlb_gen), not whatever the PTE holds when it returns. Unit tests on
 * a hand-built state, then the regression model test/fixtures/concurrent-writers.ts
 * (issue #24 item 6), whose race the old stamp-at-return ghost reported as a
 * false stale access.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { cpus, instantiate, sort, type ModelDef, type View } from '../src/index.js';
import { traceDoc } from '../src/report/json.js';
import { replayTrace } from '../src/replay.js';
import {
  cpuFields,
  ghostFields,
  isStale,
  pageTableFields,
  pteInit,
  pteStoreBy,
  pteValueMax,
  storeBufferFields,
  tlbFields,
  type HwShape,
  type HwView,
} from '../src/hw/index.js';
import {
  flushGhostFields,
  flushReturned,
  flushStarted,
  flushStartedAndReturned,
  KERNEL_SB_KINDS,
  TLB_FLUSH_ALL,
  type FlushGhostView,
  type FlushInfo,
} from '../src/kernel/index.js';
import { run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';
import writers from './fixtures/concurrent-writers.js';

type V = HwView & FlushGhostView;

function fresh(pages = 1): V {
  const sh: HwShape = { CPU: cpus(3), PAGE: sort('page', pages), roots: 1, tables: 1, frames: 1, pcids: 1, versions: 3 };
  const decl = {
    ...pageTableFields(sh),
    ...tlbFields(sh),
    ...cpuFields(sh),
    ...ghostFields(sh),
    ...flushGhostFields(sh),
    ...storeBufferFields(sh, { depth: 1, kinds: KERNEL_SB_KINDS, idxMax: 0, valLo: -1, valHi: pteValueMax(sh) }),
  };
  const s = compileLayout(decl).makeView() as unknown as V & View<typeof decl>;
  s.pmd[0]![0] = 0;
  for (let va = 0; va < pages; va++) pteInit(s, 0, va, 0);
  return s;
}
const f: FlushInfo = { mm: 0, va: 0, newGen: 1, freedTables: false };
const pte = { present: true, writable: true, accessed: false, dirty: false, frame: 0 };
/** A TLB entry filled from version `ver` of PT page 0's va0. */
const entryOf = (ver: number) => ({ pcid: 0, ver, table: 0, frame: 0, writable: true, dirty: false, global: false });

describe('flushStarted / flushReturned', () => {
  it('a returned flush kills the versions replaced before it started, not those replaced while it ran', () => {
    const s = fresh();
    pteStoreBy(s, 0, 0, 0, pte, 'locked'); // CPU0: v0 → v1
    flushStarted(s, 0, f, [0]);
    pteStoreBy(s, 1, 0, 0, pte, 'locked'); // CPU1: v1 → v2 while CPU0's flush runs
    flushReturned(s, 0, f, [0]);
    expect(s.pteVer[0]![0]).toBe(2);
    expect(s.flushedUpTo[0]![0]).toBe(1);
    expect(isStale(s, entryOf(0), 0)).toBe(true);
    expect(isStale(s, entryOf(1), 0)).toBe(false); // only CPU1's flush promises to kill v1
    expect(s.flushStartVer[0]).toBe(0); // slot cleared: no ghost residue in the state
  });

  it("covers another CPU's store that is in memory at the start, and the initiator's own buffered store (TSO), not another CPU's buffered one", () => {
    const s = fresh();
    pteStoreBy(s, 1, 0, 0, pte, 'locked'); // CPU1: v1, in memory
    pteStoreBy(s, 0, 0, 0, pte, 'plain'); // CPU0: v2, still in CPU0's store buffer
    flushStarted(s, 1, f, [0]);
    flushStarted(s, 0, f, [0]);
    expect(s.flushStartVer[1]).toBe(1);
    expect(s.flushStartVer[0]).toBe(2);
  });

  it('flushes that return out of order never lower flushedUpTo', () => {
    const s = fresh();
    pteStoreBy(s, 0, 0, 0, pte, 'locked');
    flushStarted(s, 0, f, [0]); // at v1
    pteStoreBy(s, 1, 0, 0, pte, 'locked');
    flushStarted(s, 1, f, [0]); // at v2
    flushReturned(s, 1, f, [0]);
    expect(s.flushedUpTo[0]![0]).toBe(2);
    flushReturned(s, 0, f, [0]);
    expect(s.flushedUpTo[0]![0]).toBe(2);
  });

  it('a flush of no page-table page kills nothing; one that spans several PTEs is refused, not silently truncated', () => {
    const s = fresh();
    pteStoreBy(s, 0, 0, 0, pte, 'locked');
    flushStarted(s, 0, f, []);
    flushReturned(s, 0, f, []);
    expect(s.flushedUpTo[0]![0]).toBe(0);
    const two = fresh(2);
    expect(() => flushStarted(two, 0, { ...f, va: TLB_FLUSH_ALL }, [0])).toThrow(/one PTE only/);
  });

  it('a one-step flush stamps every covered PTE at its current version', () => {
    const s = fresh(2);
    pteStoreBy(s, 0, 0, 0, pte, 'locked');
    pteStoreBy(s, 0, 0, 1, pte, 'locked');
    pteStoreBy(s, 0, 0, 1, pte, 'locked');
    flushStartedAndReturned(s, 0, { ...f, va: TLB_FLUSH_ALL }, [0]);
    expect([...s.flushedUpTo[0]!]).toEqual([1, 2]);
  });
});

const model = writers as unknown as ModelDef;
verdictTableTests([model]);

describe('regression model: two concurrent zaps of one PTE (test/fixtures/concurrent-writers.ts)', () => {
  it('stamping at return reports the race as a stale access; the entry is of a version only the unfinished flush covers', () => {
    const r = run(model, { stampAtReturn: true });
    expect(r.violations.map((v) => v.invariant)).toEqual(['no-stale-access']);
    const t = r.violations[0]!.trace;
    const [zap1, start1, refault, fill, zap2, ret] = stepsInOrder(t, [
      /MADV_DONTNEED.*pte v0→v1/,
      /flush_tlb_mm_range\(.*\) starts at pte v1/,
      /page fault va0.*pte v1→v2/,
      /user read va0 via page walk \(pfn0, pte v2\)/,
      /MADV_DONTNEED.*pte v2→v3/,
      /flush_tlb_mm_range\(va0\) returns/,
    ]);
    const first = t[zap1!]!.cpu;
    const second = t[zap2!]!.cpu;
    const reader = t[fill!]!.cpu;
    expect(new Set([first, second, reader]).size).toBe(3);
    expect(t[start1!]!.cpu).toBe(first);
    expect(t[refault!]!.cpu).toBe(reader);
    expect(t[ret!]!.cpu).toBe(first); // the first flush returns ...
    expect(t.some((st) => st.cpu === second && /flush_tlb_mm_range\(va0\) returns/.test(st.description))).toBe(false); // ... the second has not
    const last = t[t.length - 1]!;
    expect(last.cpu).toBe(reader);
    expect(last.description).toMatch(/read va0 via stale TLB entry \(pfn0, pte v2, flushed up to v3\)/);
  });

  it('with the fixed ghost the same steps are still a path, and its last read is legal', () => {
    const def = model;
    const r = run(def, { stampAtReturn: true });
    const doc = traceDoc(instantiate(def, { stampAtReturn: true }), r.violations[0]!);
    const { report } = replayTrace(def, { ...doc, params: { ...doc.params, stampAtReturn: false } });
    expect(report).toMatchObject({ validPath: true, stillViolates: false, violatedNow: [] });
    expect(report.stateDiff?.paths).toContain('flushedUpTo[0][0]'); // only the ghost differs
  });

  it('a real stale access (no IPIs) is still caught, through the version the flush started at', () => {
    const r = run(model, { localOnly: true });
    expect(r.violations.map((v) => v.invariant)).toEqual(['no-stale-access']);
    const t = r.violations[0]!.trace;
    expect(t[t.length - 1]!.description).toMatch(/read va0 via stale TLB entry \(pfn0, pte v0, flushed up to v1\)/);
  });
});
