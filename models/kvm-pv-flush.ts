/**
 * KVM's paravirtual TLB flush in a guest (CVE-2019-3016). A guest CPU that
 * flushes does not IPI a vCPU the host has preempted: kvm_flush_tlb_multi()
 * sets KVM_VCPU_FLUSH_TLB in that vCPU's shared steal-time byte, and the
 * host must flush the vCPU's TLB before it runs guest code again
 * (record_steal_time()). The guest's flush returns at once, and the guest
 * frees the page. Two host bugs lost the flag (src/hv/steal-time.ts):
 *
 *   recordStealTime: 'copy'   record_steal_time() copied the struct and wrote
 *     it back later; a FLUSH_TLB set in between was overwritten. Fixed by
 *     b043138246a4 (xchg on the mapped byte).
 *   setPreempted: 'always'    a second vcpu_put while preempted stored
 *     PREEMPTED again, clearing FLUSH_TLB ("x86/kvm: Be careful not to clear
 *     KVM_VCPU_FLUSH_TLB bit").
 *
 *   vCPU0 (munmap)                  host, for vCPU1
 *                                   vCPU1 preempted: preempted=PREEMPTED
 *   clear PTE va0, local flush;     record_steal_time: copy (PREEMPTED),
 *   kvm_flush_tlb_multi: vCPU1      clear the copy, no flush
 *   preempted → FLUSH_TLB, no IPI
 *   flush returns, free pfn0        write the copy back: FLUSH_TLB lost
 *                                   VM entry: vCPU1 reads va0 through its
 *                                   old entry, into the freed page
 *
 * The guest flush is the "local flush first" order of the kernels of that
 * time (4.16-5.5), with IPIs to the running vCPUs (native_flush_tlb_multi).
 * A vCPU runs its guest steps, walks and accesses only while running.
 */
import { array, bits, defineModel, enumOf, machine, whileCpu, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions } from '../src/hw/index.js';
import * as K from '../src/kernel/index.js';
import * as HV from '../src/hv/index.js';
import { coreProperties } from '../properties/index.js';

export default defineModel({
  name: 'kvm-pv-flush',
  description: 'KVM PV TLB flush: a preempted vCPU gets KVM_VCPU_FLUSH_TLB instead of an IPI, and the host must not lose it before VM entry (CVE-2019-3016).',
  params: {
    N: { default: 2, min: 2, max: 3, doc: 'guest vCPUs (threads of one process)' },
    recordStealTime: { default: 'atomic', values: ['atomic', 'copy'], doc: "host record_steal_time(): xchg on the guest's byte (b043138246a4), or the older copy and write-back" },
    setPreempted: { default: 'once', values: ['once', 'always'], doc: 'host kvm_steal_time_set_preempted(): skip if already marked (the fix), or store PREEMPTED on every vcpu_put' },
    pvFlush: { default: true, doc: 'guest uses kvm_flush_tlb_multi (KVM_FEATURE_PV_TLB_FLUSH); false = plain IPIs, which a preempted vCPU takes when it runs again' },
  },
  build: (p) => {
    const w = K.world({ N: p.N, P: 1, OPS: 1 });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const tables = w.tablesOf(K.MM0);
    const state = {
      ...w.fields,
      ...K.unmapOpFields(sh, 1),
      ...HV.stealTimeFields(sh),
      pc: array(CPU, enumOf(['user', 'zapped', 'local-flushed', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const runs = (s: View<S>, c: number) => HV.vcpuRuns(s, c);
    const remote = (s: View<S>, c: number) => {
      const mask = K.flushTargets(s, c, K.readFlushInfo(s, c), { ipiLazyOnFreedTables: true });
      if (!p.pvFlush) return { ipi: mask, phrase: 'native_flush_tlb_multi' };
      return HV.kvmFlushTlbMulti(s, c, mask);
    };
    const hwa = hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' });
    const guest = {
      ...K.munmapSteps<S>({ CPU, PAGE, freeTables: false, userMode: (s, c) => s.pc[c] === 'user', tablesOf: w.tablesOf, irqsOnAtReturn: false }),
      ...K.localFlushFirst<S>(CPU, k, tables),
      flush_tlb_others: {
        over: [CPU],
        guard: (s: View<S>, c: number) => s.pc[c] === 'local-flushed' && K.csdLockable(s, c, bits.all(p.N)),
        effect: (s: View<S>, c: number) => {
          K.csdQueue(s, c, remote(s, c).ipi);
          s.pc[c] = 'waiting';
        },
        describe: (s: View<S>, c: number) => K.phraseOf(s, (x) => {
          const r = remote(x, c);
          return `${r.phrase}; send flush IPI → ${K.maskNames(r.ipi, p.N)}, wait`;
        }),
      },
      ...K.syncFlushIpi<S>(CPU, k),
      user_access: hwa.user_access,
      speculative_walk: hwa.speculative_walk,
    };
    const host = {
      vcpu_put: {
        over: [CPU],
        guard: (s: View<S>, v: number) => s.vcpuState[v] === 'running' || s.vcpuState[v] === 'preempted',
        effect: (s: View<S>, v: number) => void HV.hostSetPreempted(s, v, p.setPreempted),
        describe: (s: View<S>, v: number) => K.phraseOf(s, (x) => HV.hostSetPreempted(x, v, p.setPreempted)),
      },
      record_steal_time: {
        over: [CPU],
        guard: (s: View<S>, v: number) => s.vcpuState[v] === 'preempted',
        effect: (s: View<S>, v: number) => void HV.hostRecordStealTime(s, v, p.recordStealTime),
        describe: (s: View<S>, v: number) => K.phraseOf(s, (x) => HV.hostRecordStealTime(x, v, p.recordStealTime)),
      },
      ...(p.recordStealTime === 'copy'
        ? {
            steal_time_write_back: {
              over: [CPU],
              guard: (s: View<S>, v: number) => s.vcpuState[v] === 'copying',
              effect: (s: View<S>, v: number) => void HV.hostRecordStealTimeWrite(s, v),
              describe: (s: View<S>, v: number) => K.phraseOf(s, (x) => HV.hostRecordStealTimeWrite(x, v)),
            },
          }
        : {}),
      vm_entry: {
        over: [CPU],
        guard: (s: View<S>, v: number) => s.vcpuState[v] === 'entering',
        effect: (s: View<S>, v: number) => void HV.hostResume(s, v),
        describe: () => 'host: VM entry, the vCPU runs',
      },
    };
    return machine(state, {
      init: w.init,
      actions: { ...whileCpu(guest, runs), ...host, tlb_evict: hwa.tlb_evict, psc_evict: hwa.psc_evict },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { pvFlush: false }, verdict: 'holds', note: 'plain IPIs: a preempted vCPU takes the IPI when it runs again' },
    { params: { recordStealTime: 'copy' }, verdict: 'violated', invariant: 'no-stale-access', note: "the host's write-back overwrites FLUSH_TLB; the vCPU runs with its old entry" },
    { params: { setPreempted: 'always' }, verdict: 'violated', invariant: 'no-stale-access', note: 'a second vcpu_put stores PREEMPTED over FLUSH_TLB' },
    { params: { recordStealTime: 'copy', N: 3 }, verdict: 'violated', invariant: 'no-stale-access' },
  ],
});
