/**
 * Unit tests of the optional x86-TSO store buffers (src/hw/store-buffer.ts,
 * SDM Vol. 3A §9.2 memory ordering, §9.3 serializing instructions) and of
 * the kernel stores wired to them.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { array, check, cpus, defineModel, enumOf, int, machine, NONE, sort, type ModelDef, type View } from '../src/index.js';
import {
  cpuFields,
  cr3Write,
  defineSbKind,
  drainAction,
  loc,
  modelSbKind,
  lockedCmpxchg,
  lockedXchg,
  pmdLoc,
  storeTo,
  drainOne,
  fence,
  ghostFields,
  invlpg,
  loadFrom,
  pageTableFields,
  pmdSeen,
  pmdStoreBy,
  pteLoc,
  pteSeen,
  pteStoreBy,
  pteValueMax,
  sbLength,
  storeBufferFields,
  tlbFields,
  tlbLookup,
  walk,
  walkPlan,
  type HwShape,
  type HwView,
} from '../src/hw/index.js';
import { pteInit } from '../src/hw/pagetable.js';
import { csdQueue, csdUnlock, incMmTlbGen, ipiDeliverable, KERNEL_SB_KINDS, setIsLazy, world, type CsdView, type WorldView } from '../src/kernel/index.js';

type KV = WorldView & CsdView;

const sh: HwShape = { CPU: cpus(2), PAGE: sort('page', 1), roots: 1, tables: 1, frames: 2, pcids: 1, versions: 2 };
const decl = {
  ...pageTableFields(sh),
  ...tlbFields(sh),
  ...cpuFields(sh),
  ...ghostFields(sh),
  ...storeBufferFields(sh, { depth: 2, kinds: KERNEL_SB_KINDS, idxMax: 0, valLo: -1, valHi: pteValueMax(sh) }),
};
/** Two CPUs on root 0; PT page 0 maps va0 → pfn0 (version 0). */
function fresh(): HwView {
  const s = compileLayout(decl).makeView() as unknown as HwView & View<typeof decl>;
  s.pmd[0]![0] = 0;
  pteInit(s, 0, 0, 0);
  return s;
}
const remap = { present: true, writable: true, accessed: true, dirty: false, frame: 1 };

describe('store buffer', () => {
  it('a location kind is defined once: redefining one (a block\'s pte, or any other) is refused, the same handler again is not', () => {
    const def = { read: () => 0, write: () => undefined, show: () => 'x' };
    expect(() => defineSbKind('pte', def)).toThrow(/location kind pte is already defined by the building blocks; a model's own kinds are registered with modelSbKind/);
    defineSbKind('test-own-kind', def);
    defineSbKind('test-own-kind', def);
    expect(() => defineSbKind('test-own-kind', { ...def })).toThrow(/location kind test-own-kind is already defined;/);
  });

  it("a model's own kinds: the same name in two models gets two kinds, each with its model's handler; the same handler again is the same kind", () => {
    // The store-buffering litmus (SB), twice: CPU i stores 1 to its flag (buffered) and then reads the other's.
    // Both models name their kind 'flag' but keep the flags in fields of different names.
    const litmus = (name: string, fields: readonly ['x' | 'p', 'y' | 'q']) => {
      const CPU = cpus(2);
      const sh = { CPU, PAGE: sort('page', 1) };
      const handler = {
        read: (s: Record<string, number>, l: { idx: number }) => s[fields[l.idx]!]!,
        write: (s: Record<string, number>, l: { idx: number }, v: number) => void (s[fields[l.idx]!] = v),
        show: (l: { idx: number }, v: number) => `${fields[l.idx]}=${v}`,
      };
      const kind = modelSbKind('test-flag', handler);
      expect(modelSbKind('test-flag', handler)).toBe(kind);
      const state = {
        [fields[0]]: int(0, 1),
        [fields[1]]: int(0, 1),
        seen: array(CPU, int(NONE, 1, { init: NONE })),
        pc: array(CPU, enumOf(['store', 'load', 'done'])),
        ...storeBufferFields(sh, { depth: 1, kinds: [kind], idxMax: 1, valLo: 0, valHi: 1 }),
      };
      type S = typeof state;
      const m = defineModel({
        name,
        description: 'the SB litmus test',
        params: {},
        build: () =>
          machine(state, {
            actions: {
              store: { over: [CPU], guard: (s, c) => s.pc[c] === 'store', effect: (s, c) => (storeTo(s, c, loc(kind, { idx: c }), 1), void (s.pc[c] = 'load')) },
              load: { over: [CPU], guard: (s, c) => s.pc[c] === 'load', effect: (s, c) => ((s.seen[c] = loadFrom(s, c, loc(kind, { idx: 1 - c }))), void (s.pc[c] = 'done')) },
              sb_drain: drainAction<S>(sh),
            },
            invariants: { 'not-both-zero': (s) => !(s.seen[0] === 0 && s.seen[1] === 0) },
          }),
      });
      return { m: m as unknown as ModelDef, kind };
    };
    const a = litmus('sb-a', ['x', 'y']);
    const b = litmus('sb-b', ['p', 'q']);
    expect(a.kind).toBe('test-flag');
    expect(b.kind).toBe('test-flag·2');
    const runs = [a, b, a].map(({ m }) => check(m, {}, { all: true }));
    expect(runs.map((r) => r.verdict)).toEqual(['violated', 'violated', 'violated']);
    expect(runs[2]!.states).toBe(runs[0]!.states);
    expect(runs[1]!.states).toBe(runs[0]!.states);
  });

  it('a plain PTE store is seen by its CPU (forwarding) but not by the other CPU until it drains', () => {
    const s = fresh();
    pteStoreBy(s, 0, 0, 0, remap, 'plain');
    expect(sbLength(s, 0)).toBe(1);
    expect(pteSeen(s, 0, 0, 0)).toMatchObject({ frame: 1, ver: 1 });
    expect(pteSeen(s, 1, 0, 0)).toMatchObject({ frame: 0, ver: 0 });
    expect(s.pteFrame[0]![0]).toBe(0); // memory
    drainOne(s, 0);
    expect(sbLength(s, 0)).toBe(0);
    expect(pteSeen(s, 1, 0, 0)).toMatchObject({ frame: 1, ver: 1 });
  });

  it('drains in FIFO order; loads forward the newest own store; a store into a full buffer drains the oldest first', () => {
    const s = fresh();
    pteStoreBy(s, 0, 0, 0, remap, 'plain'); // v1 pfn1
    pteStoreBy(s, 0, 0, 0, { ...remap, frame: 0 }, 'plain'); // v2 pfn0
    expect(loadFrom(s, 0, pteLoc(0, 0)) >> 8).toBe(2);
    expect(loadFrom(s, 1, pteLoc(0, 0)) >> 8).toBe(0);
    pmdStoreBy(s, 0, 0, 0, NONE); // buffer full: v1 reaches memory first
    expect(s.pteVer[0]![0]).toBe(1);
    expect(pmdSeen(s, 0, 0, 0)).toBe(NONE);
    expect(pmdSeen(s, 1, 0, 0)).toBe(0);
    drainOne(s, 0);
    expect(s.pteVer[0]![0]).toBe(2);
    fence(s, 0);
    expect(s.pmd[0]![0]).toBe(NONE);
    expect(sbLength(s, 0)).toBe(0);
  });

  it('a locked store (xchg) and the serializing INVLPG / MOV CR3 drain the buffer first', () => {
    const s = fresh();
    pmdStoreBy(s, 0, 0, 0, 0);
    pteStoreBy(s, 0, 0, 0, remap, 'locked');
    expect(sbLength(s, 0)).toBe(0);
    expect(s.pteFrame[0]![0]).toBe(1);
    pmdStoreBy(s, 0, 0, 0, 0);
    invlpg(s, 0, 0);
    expect(sbLength(s, 0)).toBe(0);
    pmdStoreBy(s, 0, 0, 0, 0);
    cr3Write(s, 0, 0, 0, true);
    expect(sbLength(s, 0)).toBe(0);
  });

  it('XCHG and LOCK CMPXCHG drain the buffer first, then read and write memory in one step', () => {
    const s = fresh();
    const pmd = pmdLoc(0);
    storeTo(s, 0, pmd, NONE); // a buffered pmd_clear, not yet visible
    expect(loadFrom(s, 1, pmd)).toBe(0);
    expect(lockedXchg(s, 0, pmd, 0)).toBe(NONE); // sees its own drained store
    expect([sbLength(s, 0), s.pmd[0]![0]]).toEqual([0, 0]);
    storeTo(s, 0, pmd, NONE);
    expect(lockedCmpxchg(s, 0, pmd, 0, 0)).toBe(NONE); // drained first: memory holds NONE, no swap
    expect([sbLength(s, 0), s.pmd[0]![0]]).toEqual([0, NONE]);
    expect(lockedCmpxchg(s, 1, pmd, NONE, 0)).toBe(NONE);
    expect(s.pmd[0]![0]).toBe(0);
  });

  it("the page walker reads its own buffered PTE; another CPU's walker reads memory", () => {
    const s = fresh();
    s.pteAccessed[0]![0] = true;
    pteStoreBy(s, 0, 0, 0, remap, 'plain');
    walk(s, 0, 0);
    walk(s, 1, 0);
    expect(tlbLookup(s, 0, 0, 0)).toMatchObject({ frame: 1, ver: 1 });
    expect(tlbLookup(s, 1, 0, 0)).toMatchObject({ frame: 0, ver: 0 });
    expect(sbLength(s, 0)).toBe(1); // A was already set: no locked update, nothing drained
  });

  it("the walker's A update is a locked RMW: it drains the walking CPU's buffer", () => {
    const s = fresh();
    pmdStoreBy(s, 0, 0, 0, 0);
    expect(walkPlan(s, 0, 0)!.present).toBe(true);
    walk(s, 0, 0);
    expect(s.pteAccessed[0]![0]).toBe(true);
    expect(sbLength(s, 0)).toBe(0);
  });
});

describe('kernel stores under TSO', () => {
  const w = world({ N: 2, P: 1, OPS: 1, tso: 1 });
  const make = () => {
    const s = compileLayout(w.fields).makeView() as unknown as KV;
    w.init(s);
    return s;
  };
  it('csd_unlock is a release store: the sender sees the CSD locked until it drains, the target not', () => {
    const s = make();
    csdQueue(s, 0, 0b10);
    expect(ipiDeliverable(s, 0, 1)).toBe(true);
    csdUnlock(s, 0, 1);
    expect(s.csd[0]![1]).toBe('queued'); // memory, what the sender's csd_lock_wait reads
    expect(ipiDeliverable(s, 0, 1)).toBe(false); // the target's own view
    drainOne(s, 1);
    expect(s.csd[0]![1]).toBe('free');
  });
  it('inc_mm_tlb_gen (atomic64_inc_return) drains the incrementing CPU first', () => {
    const s = make();
    setIsLazy(s, 0, true);
    expect(s.isLazy[0]).toBe(false);
    incMmTlbGen(s, 0, 0);
    expect(s.isLazy[0]).toBe(true);
    expect(s.tlbGen[0]).toBe(1);
  });
  it('without store buffers every store goes straight to memory', () => {
    const s0 = world({ N: 2, P: 1, OPS: 1 });
    const s = compileLayout(s0.fields).makeView() as unknown as KV;
    s0.init(s);
    setIsLazy(s, 0, true);
    csdUnlock(s, 0, 1);
    expect(s.isLazy[0]).toBe(true);
    expect(sbLength(s, 0)).toBe(0);
    expect('sbKind' in s).toBe(false);
    expect(NONE).toBe(-1);
  });
});
