/**
 * models/text-poke.ts (issue 4 part 2): the verdict table, the key steps of
 * each violation's shortest trace, and the user-PCID strategies' equivalence.
 */
import { describe, expect, it } from 'vitest';
import { check, defineModel, NONE, type Machine, type ModelDef, type StateDecl } from '../src/index.js';
import { run, stepsInOrder, verdictTableTests, type Params, type Step } from './helpers/model-tables.js';
import textPoke from '../models/text-poke.js';

const m = textPoke as unknown as ModelDef;

function traceOf(params: Params, inv: string): Step[] {
  const r = run(m, params);
  expect(r.verdict).toBe('violated');
  const v = r.violations.find((x) => x.invariant === inv);
  expect(v).toBeDefined();
  return v!.trace;
}

verdictTableTests([m]);

describe('text-poke shortest traces', () => {
  it('IRQs on during the poke: an IRQ handler on the poking CPU writes the text page through poking_addr', () => {
    for (const flow of ['local', 'mm-range']) {
      const t = traceOf({ irqsOn: true, flow }, 'no-handler-write-during-poke');
      const [begin, irq] = stepsInOrder(t, [
        /^text_poke: BUG: IRQs left on; set_pte_at\(poking_mm, poking_addr → text pfn1, W.*use_temporary_mm: switch_mm\(poking_mm\)/,
        /^IRQ handler inside text_poke: buggy put_user\(poking_addr\): write va0 .*\(pfn1, pte v1\) = KERNEL TEXT/,
      ]);
      expect(t[irq!]!.cpu).toBe(t[begin!]!.cpu);
    }
  });

  it('NMI uaccess without nmi_uaccess_okay(): IRQs off does not keep an NMI handler off poking_mm', () => {
    const t = traceOf({ nmiUaccessOkay: false }, 'no-handler-write-during-poke');
    const [begin, nmi] = stepsInOrder(t, [
      /^text_poke: local_irq_save; set_pte_at\(poking_mm/,
      /^NMI inside text_poke: BUG: no nmi_uaccess_okay\(\), bpf_probe_write_user\(poking_addr\): .* = KERNEL TEXT/,
    ]);
    expect(t[nmi!]!.cpu).toBe(t[begin!]!.cpu);
  });

  it('poking_mm loaded on another CPU: it caches the writable entry and keeps it after the local-only flush', () => {
    const t = traceOf({ otherCpuLoaded: true }, 'no-text-write-after-poke');
    const [begin, walk, clear, done, write] = stepsInOrder(t, [
      /^text_poke: local_irq_save; set_pte_at\(poking_mm, poking_addr → text pfn1/,
      /^speculative walk va0 .*→ TLB\[pcid\d\]=pfn1 W D \(pte v1\)/,
      /^pte_clear\(poking_mm, poking_addr\) \(pte v1→v2\)/,
      /^__flush_tlb_one_user\(poking_addr\): INVLPG va0 .*INVPCID type 0.*unuse_temporary_mm.*text_poke returns/,
      /^IRQ handler: buggy put_user\(poking_addr\): write va0 via stale TLB entry \(pfn1, pte v1, flushed up to v2\) = KERNEL TEXT/,
    ]);
    const poker = t[begin!]!.cpu;
    expect(poker).toBe(0);
    for (const i of [clear, done]) expect(t[i!]!.cpu).toBe(poker);
    for (const i of [walk, write]) expect(t[i!]!.cpu).toBe(1);
  });

  it('poking_mm left lazily loaded: the lazy CPU caches the next poke\'s entry (made by another CPU) and keeps it', () => {
    const t = traceOf({ leaveLazy: true, POKES: 2 }, 'no-text-write-after-poke');
    const [p1, lazy, p2, walk, clear2, done2, write] = stepsInOrder(t, [
      /^text_poke: local_irq_save; set_pte_at.*pte v0→v1/,
      /BUG: no unuse_temporary_mm, enter_lazy_tlb: poking_mm stays loaded \(lazy\); local_irq_restore: text_poke returns/,
      /^text_poke: local_irq_save; set_pte_at.*pte v2→v3/,
      /^speculative walk va0 .*=pfn1 W D \(pte v3\)/,
      /^pte_clear\(poking_mm, poking_addr\) \(pte v3→v4\)/,
      /^__flush_tlb_one_user\(poking_addr\): INVLPG va0.*text_poke returns/,
      /^IRQ handler: buggy put_user\(poking_addr\): write va0 via stale TLB entry \(pfn1, pte v3, flushed up to v4\) = KERNEL TEXT/,
    ]);
    const first = t[p1!]!.cpu;
    const second = t[p2!]!.cpu;
    expect(second).not.toBe(first);
    for (const i of [lazy, walk, write]) expect(t[i!]!.cpu).toBe(first);
    for (const i of [clear2, done2]) expect(t[i!]!.cpu).toBe(second);
  });

  it('mm-range flow, left lazy twice: should_flush_tlb() skips the lazy initiator itself', () => {
    const t = traceOf({ leaveLazy: true, POKES: 2, flow: 'mm-range' }, 'no-text-write-after-poke');
    const [, heal, p2, , skip, write] = stepsInOrder(t, [
      /BUG: no unuse_temporary_mm, enter_lazy_tlb/,
      /^flush_tlb_mm_range\(poking_mm, poking_addr\): tlb_gen=1; flush_tlb_func: lazy → switch_mm\(init_mm\)/,
      /^text_poke: local_irq_save; set_pte_at.*pte v2→v3/,
      /BUG: no unuse_temporary_mm, enter_lazy_tlb/,
      /^flush_tlb_mm_range\(poking_mm, poking_addr\): tlb_gen=2; flush_tlb_multi: own CPU skipped \(should_flush_tlb: lazy\).*returns/,
      /write va0 via stale TLB entry \(pfn1, pte v3, flushed up to v4\) = KERNEL TEXT/,
    ]);
    expect(t[p2!]!.cpu).not.toBe(t[heal!]!.cpu);
    expect(t[write!]!.cpu).toBe(t[skip!]!.cpu);
  });

  it('plain PAGE_KERNEL (G) without PTI, mm-range flow: nothing INVLPGs the global entry and mm0 writes kernel text through it', () => {
    const p = { pageKernelGlobal: true, pti: false, flow: 'mm-range' };
    const after = traceOf(p, 'no-text-write-after-poke');
    const steps = stepsInOrder(after, [
      /^text_poke: local_irq_save; set_pte_at\(poking_mm, poking_addr → text pfn1, W, G, pte v0→v1\)/,
      /^memcpy to poking_addr: write va0/,
      /^pte_clear\(poking_mm, poking_addr\)/,
      /^unuse_temporary_mm: clear own mm_cpumask bit, switch_mm\(mm0\)/,
      /^flush_tlb_mm_range\(poking_mm, poking_addr\): tlb_gen=1; poking_mm loaded nowhere, mm_cpumask empty: no invalidation at all; returns/,
      /write va0 via stale TLB entry \(pfn1, pte v1, flushed up to v2\) = KERNEL TEXT/,
    ]);
    expect(new Set(steps.map((i) => after[i]!.cpu)).size).toBe(1);
    // even an NMI that passed nmi_uaccess_okay() (mm0 is loaded again) writes kernel text through the global entry
    const during = traceOf(p, 'no-handler-write-during-poke');
    stepsInOrder(during, [/^unuse_temporary_mm: .*switch_mm\(mm0\)/, /^NMI inside text_poke: nmi_uaccess_okay\(\), bpf_probe_write_user\(poking_addr\): write va0 via TLB entry \(pfn1, pte v1\) = KERNEL TEXT/]);
  });
});

describe('text-poke: INVPCID, marking and skipping the user-PCID flush are equivalent', () => {
  // every expect row that does not fix pti/userPcidFlush, except N=3 (10 s each; the table runs it once)
  const rows = (m.expect ?? []).map((r) => (r.params ?? {}) as Params).filter((p) => p.pti !== false && p.userPcidFlush === undefined && p.N === undefined);

  it.each(rows.map((p) => [JSON.stringify(p), p] as const))('%s: same verdict, same violations, same state count', (_name, p) => {
    const rs = (['invpcid', 'mark', 'none'] as const).map((u) => check(m, { ...p, userPcidFlush: u }));
    const sig = (r: (typeof rs)[number]) => ({ verdict: r.verdict, states: r.states, violated: r.violations.map((v) => `${v.invariant}:${v.trace.length}`) });
    expect(sig(rs[1]!)).toEqual(sig(rs[0]!));
    expect(sig(rs[2]!)).toEqual(sig(rs[0]!));
  });

  /** The model with one probe invariant: "cond never holds"; violated = cond is reachable. */
  function reachable(params: Params, cond: (s: any) => boolean): boolean {
    const probe = defineModel({
      ...m,
      name: 'text-poke-probe',
      expect: [],
      build: (p: Record<string, unknown>) => {
        const mach = m.build(p as never) as Machine<StateDecl>;
        return { ...mach, invariants: { probe: (s: unknown) => !cond(s) } };
      },
    });
    return check(probe as unknown as ModelDef, params).verdict === 'violated';
  }

  it('is not vacuous: user PCIDs get TLB entries, and a user returns to the PCID slot poking_mm had used', () => {
    const ASIDS = 2;
    const userEntry = (s: any) => s.tlbVer.some((perPcid: number[][]) => perPcid.some((e, pcid) => pcid >= ASIDS && e[0] !== NONE));
    expect(reachable({}, userEntry)).toBe(true);
    // leaveLazy + mm-range: init_mm takes a slot, mm0 is moved into poking_mm's old slot 1 and returns to user on its user PCID
    const userInPokingSlot = (s: any) => s.mode.some((md: string, c: number) => md === 'user' && s.cr3Pcid[c] === 1 + ASIDS);
    expect(reachable({ leaveLazy: true, flow: 'mm-range' }, userInPokingSlot)).toBe(true);
    expect(reachable({}, userInPokingSlot)).toBe(false);
  });
});
