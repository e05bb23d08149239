/**
 * The KVM steal-time block (src/hv/steal-time.ts): what the guest and the
 * host do to the shared `preempted` byte, and when the vCPU's TLB is
 * flushed; whileCpu (src/engine/program.ts); and the model built from them
 * (models/kvm-pv-flush.ts), its verdict table and the CVE-2019-3016 trace.
 */
import { describe, expect, it } from 'vitest';
import { compileLayout } from '../src/engine/layout.js';
import { whileCpu, type ModelDef, type View } from '../src/index.js';
import { access, defaultHwOptions, tlbLookup } from '../src/hw/index.js';
import { world } from '../src/kernel/index.js';
import {
  hostRecordStealTime,
  hostRecordStealTimeWrite,
  hostResume,
  hostSetPreempted,
  KVM_VCPU_FLUSH_TLB,
  KVM_VCPU_PREEMPTED,
  kvmFlushTlbMulti,
  stealTimeFields,
  vcpuRuns,
} from '../src/hv/index.js';
import kvmPvFlush from '../models/kvm-pv-flush.js';
import { reaches, run, stepsInOrder, verdictTableTests } from './helpers/model-tables.js';

const w = world({ N: 3, P: 1, OPS: 1 });
const decl = { ...w.fields, ...stealTimeFields(w.hwShape) };
const fresh = () => {
  const s = compileLayout(decl).makeView() as View<typeof decl>;
  w.init(s);
  for (let c = 0; c < 3; c++) access(s, c, 0, 'read', defaultHwOptions);
  return s;
};
const BOTH = KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB;

describe('steal time: preempted and FLUSH_TLB', () => {
  it('the guest flags a preempted vCPU instead of IPIing it; a running one, and itself, still get the IPI', () => {
    const s = fresh();
    hostSetPreempted(s, 1, 'once');
    const r = kvmFlushTlbMulti(s, 0, 0b111);
    expect([r.ipi, r.phrase, s.stPreempted[1], s.stPreempted[2]]).toEqual([0b101, 'kvm_flush_tlb_multi: CPU1 preempted: set FLUSH_TLB, no IPI', BOTH, 0]);
  });

  it('atomic record_steal_time: xchg the byte to 0 and flush the vCPU\'s whole TLB when FLUSH_TLB was set', () => {
    const s = fresh();
    hostSetPreempted(s, 1, 'once');
    kvmFlushTlbMulti(s, 0, 0b010);
    expect(hostRecordStealTime(s, 1, 'atomic')).toBe('host: record_steal_time: xchg(preempted, 0) = PREEMPTED|FLUSH_TLB → kvm_vcpu_flush_tlb_guest');
    expect([s.stPreempted[1], tlbLookup(s, 1, 0, 0), tlbLookup(s, 2, 0, 0) !== null]).toEqual([0, null, true]);
    expect(() => kvmFlushTlbMulti(s, 0, 0b010)).not.toThrow();
    expect(s.stPreempted[1]).toBe(0); // entering, no longer marked: the next flush IPIs it
    hostResume(s, 1);
    expect(vcpuRuns(s, 1)).toBe(true);
  });

  it('copy record_steal_time: a FLUSH_TLB set between the copy and the write-back is lost, and no flush happens', () => {
    const s = fresh();
    hostSetPreempted(s, 1, 'once');
    hostRecordStealTime(s, 1, 'copy');
    expect(() => hostResume(s, 1)).toThrow(/vCPU1 enters the guest before record_steal_time/);
    kvmFlushTlbMulti(s, 0, 0b010); // the guest still sees PREEMPTED
    expect(s.stPreempted[1]).toBe(BOTH);
    expect(hostRecordStealTimeWrite(s, 1)).toBe("host: record_steal_time: write the copy back: preempted → 0 (the guest's FLUSH_TLB is overwritten)");
    hostResume(s, 1);
    expect([s.stPreempted[1], tlbLookup(s, 1, 0, 0) !== null]).toEqual([0, true]);
  });

  it('set_preempted: a second vcpu_put stores PREEMPTED over FLUSH_TLB before the fix, and leaves it after', () => {
    for (const [how, after] of [['always', KVM_VCPU_PREEMPTED], ['once', BOTH]] as const) {
      const s = fresh();
      hostSetPreempted(s, 1, how);
      kvmFlushTlbMulti(s, 0, 0b010);
      expect(hostSetPreempted(s, 1, how)).toMatch(/vcpu_put again/);
      expect(s.stPreempted[1]).toBe(after);
    }
  });

  it('whileCpu: a step of a vCPU that is not running is not enabled', () => {
    const s = fresh();
    const steps = whileCpu({ a: { over: [w.CPU], effect: () => undefined } }, (x: View<typeof decl>, c) => vcpuRuns(x, c));
    hostSetPreempted(s, 1, 'once');
    expect([0, 1, 2].map((c) => steps.a.guard!(s, c))).toEqual([true, false, true]);
  });
});

verdictTableTests([kvmPvFlush as unknown as ModelDef]);

describe('kvm-pv-flush: CVE-2019-3016', () => {
  const m = kvmPvFlush as unknown as ModelDef;

  it("the host's write-back overwrites the guest's FLUSH_TLB; the vCPU runs again and reads through its old entry", () => {
    const t = run(m, { recordStealTime: 'copy' }).violations.find((v) => v.invariant === 'no-stale-access')!.trace;
    const [fill, preempt, copy, flag, ret, write, entry, read] = stepsInOrder(t, [
      /user read va0 via page walk/,
      /host: vCPU preempted: steal_time.preempted 0→PREEMPTED/,
      /host: record_steal_time: copy the struct \(preempted PREEMPTED\), clear the copy's preempted$/,
      /kvm_flush_tlb_multi: CPU\d preempted: set FLUSH_TLB, no IPI/,
      /flush_tlb_mm_range\(va0\) returns/,
      /write the copy back: preempted → 0 \(the guest's FLUSH_TLB is overwritten\)/,
      /host: VM entry, the vCPU runs/,
      /user read va0 via stale TLB entry/,
    ]);
    expect(new Set([fill, preempt, copy, write, entry, read].map((i) => t[i!]!.cpu))).toEqual(new Set([t[fill!]!.cpu]));
    expect(t[flag!]!.cpu).toBe(t[ret!]!.cpu);
    expect(t[flag!]!.cpu).not.toBe(t[read!]!.cpu);
  });

  it('with the fixes the window is there, and closed: a flagged vCPU never runs again with the entry', () => {
    expect(reaches(m, {}, (s) => s.stPreempted.includes(3) && s.pc.includes('returned'))).toBe(true);
    expect(reaches(m, {}, (s) => s.vcpuState.some((v: string, c: number) => v === 'running' && s.stPreempted[c] === 3))).toBe(false);
  });
});
