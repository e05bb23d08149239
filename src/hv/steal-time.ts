/**
 * KVM's paravirtual TLB flush (KVM_FEATURE_PV_TLB_FLUSH; guest
 * arch/x86/kernel/kvm.c, host arch/x86/kvm/x86.c). Each guest CPU of the
 * model is a vCPU that the host may preempt (deschedule) and resume. The
 * guest and the host share each vCPU's struct kvm_steal_time; its
 * `preempted` byte carries two bits:
 *
 *   KVM_VCPU_PREEMPTED  set by the host when it deschedules the vCPU
 *                       (kvm_steal_time_set_preempted(), from vcpu_put);
 *   KVM_VCPU_FLUSH_TLB  set by a guest CPU flushing (kvm_flush_tlb_multi(),
 *                       kvm_flush_tlb_others() before 5.11:
 *                       try_cmpxchg of PREEMPTED → PREEMPTED|FLUSH_TLB)
 *                       instead of an IPI the preempted vCPU cannot take;
 *                       the host must flush the vCPU's TLB before it runs
 *                       guest code again (record_steal_time(), on entry).
 *
 * The host's side comes in its historic forms (CVE-2019-3016):
 *   record_steal_time  `atomic`: xchg(&st->preempted, 0), then flush if
 *                      FLUSH_TLB was set (b043138246a4, "x86/KVM: Make sure
 *                      KVM_VCPU_FLUSH_TLB flag is not missed"); `copy`: the
 *                      kernels before it read the struct into a host copy,
 *                      cleared the copy's byte and flushed if it had
 *                      FLUSH_TLB, and later wrote the whole copy back, so a
 *                      FLUSH_TLB the guest set in between was overwritten;
 *   set_preempted      `once`: skip if this vCPU is already marked preempted
 *                      ("x86/kvm: Be careful not to clear KVM_VCPU_FLUSH_TLB
 *                      bit"); `always`: before it a second vcpu_put while
 *                      preempted stored PREEMPTED again, clearing FLUSH_TLB.
 *
 * The host's flush of the vCPU's TLB (kvm_vcpu_flush_tlb_guest() today):
 * everything the vCPU's VPID holds (an INVVPID single-context; here
 * INVPCID type 2 on that CPU).
 */
import { array, bits, enumOf, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import { invpcid } from '../hw/invalidate.js';
import type { HwShape } from '../hw/shape.js';
import type { HwView } from '../hw/walk.js';

export const KVM_VCPU_PREEMPTED = 1;
export const KVM_VCPU_FLUSH_TLB = 2;

export function stealTimeFields(sh: Pick<HwShape, 'CPU'>) {
  return {
    /**
     * running: guest code; preempted: descheduled by the host; copying: a `copy`
     * record_steal_time() has read the struct and not yet written it back;
     * entering: record_steal_time() done, VM entry next.
     */
    vcpuState: array(sh.CPU, enumOf(['running', 'preempted', 'copying', 'entering'])),
    /** struct kvm_steal_time.preempted, in guest memory: KVM_VCPU_PREEMPTED | KVM_VCPU_FLUSH_TLB. */
    stPreempted: array(sh.CPU, int(0, 3)),
  };
}
export type StealTimeView = View<ReturnType<typeof stealTimeFields>>;

export type RecordStealTime = 'atomic' | 'copy';
export type SetPreempted = 'once' | 'always';

const bitsName = (b: number): string => [b & KVM_VCPU_PREEMPTED ? 'PREEMPTED' : '', b & KVM_VCPU_FLUSH_TLB ? 'FLUSH_TLB' : ''].filter(Boolean).join('|') || '0';

/** vcpu_put → kvm_steal_time_set_preempted(): the host deschedules vCPU v (or puts it again while it is descheduled). */
export function hostSetPreempted(s: StealTimeView, v: number, how: SetPreempted): string {
  if (s.vcpuState[v] !== 'running' && s.vcpuState[v] !== 'preempted') throw new Error(`host: vcpu_put of vCPU${v} while it is entering the guest`);
  // The host's vcpu->arch.st.preempted: set by this call, cleared by record_steal_time(), so set exactly while 'preempted'.
  const again = s.vcpuState[v] === 'preempted';
  s.vcpuState[v] = 'preempted';
  if (how === 'once' && again) return `host: vcpu_put again: already marked preempted, steal_time.preempted stays ${bitsName(s.stPreempted[v]!)}`;
  const before = s.stPreempted[v]!;
  s.stPreempted[v] = KVM_VCPU_PREEMPTED; // a byte store: whatever the guest set is overwritten
  return `host: ${again ? 'vcpu_put again' : 'vCPU preempted'}: steal_time.preempted ${bitsName(before)}→PREEMPTED`;
}

/** vCPU v runs guest code: its guest steps, walks and accesses may happen. */
export const vcpuRuns = (s: StealTimeView, v: number): boolean => s.vcpuState[v] === 'running';

/** The host's guest-TLB flush for vCPU v (kvm_vcpu_flush_tlb_guest). */
function flushGuest(s: HwView, v: number): void {
  invpcid(s, v, 2);
}

/**
 * record_steal_time() for vCPU v, before it enters the guest: `atomic` in one
 * step; `copy` in two (the read and flush here, the write-back in
 * hostRecordStealTimeWrite). Returns the phrase.
 */
export function hostRecordStealTime(s: StealTimeView & HwView, v: number, how: RecordStealTime): string {
  if (s.vcpuState[v] !== 'preempted') throw new Error(`host: record_steal_time of vCPU${v}, which is not preempted`);
  const st = s.stPreempted[v]!;
  const flush = (st & KVM_VCPU_FLUSH_TLB) !== 0;
  if (flush) flushGuest(s, v);
  if (how === 'atomic') {
    s.stPreempted[v] = 0;
    s.vcpuState[v] = 'entering';
    return `host: record_steal_time: xchg(preempted, 0) = ${bitsName(st)}${flush ? ' → kvm_vcpu_flush_tlb_guest' : ''}`;
  }
  s.vcpuState[v] = 'copying'; // the copy's byte is now 0; it is written back with the rest of the struct
  return `host: record_steal_time: copy the struct (preempted ${bitsName(st)}), clear the copy's preempted${flush ? ' → kvm_vcpu_flush_tlb_guest' : ''}`;
}

/** `copy` hosts: the write-back of the copy (kvm_write_guest_cached), overwriting the guest's byte. */
export function hostRecordStealTimeWrite(s: StealTimeView, v: number): string {
  if (s.vcpuState[v] !== 'copying') throw new Error(`host: no record_steal_time copy of vCPU${v} to write back`);
  const lost = s.stPreempted[v]! & KVM_VCPU_FLUSH_TLB;
  s.stPreempted[v] = 0;
  s.vcpuState[v] = 'entering';
  return `host: record_steal_time: write the copy back: preempted → 0${lost ? ' (the guest\'s FLUSH_TLB is overwritten)' : ''}`;
}

/** VM entry: vCPU v runs guest code again. */
export function hostResume(s: StealTimeView, v: number): string {
  if (s.vcpuState[v] !== 'entering') throw new Error(`host: vCPU${v} enters the guest before record_steal_time`);
  s.vcpuState[v] = 'running';
  return 'host: VM entry, the vCPU runs';
}

/**
 * kvm_flush_tlb_multi() on guest CPU c: for each target of `mask`, a vCPU
 * the steal-time byte says is preempted gets FLUSH_TLB (try_cmpxchg) and no
 * IPI. Returns the CPUs still to IPI (native_flush_tlb_multi) and the phrase.
 */
export function kvmFlushTlbMulti(s: StealTimeView, c: number, mask: number): { ipi: number; phrase: string } {
  let ipi = mask;
  const flagged: string[] = [];
  for (let t = 0; t < s.stPreempted.length; t++) {
    if (t === c || !bits.has(mask, t)) continue;
    const state = s.stPreempted[t]!;
    if (state & KVM_VCPU_PREEMPTED) {
      s.stPreempted[t] = state | KVM_VCPU_FLUSH_TLB; // try_cmpxchg: the read and the swap are one locked op here
      ipi = bits.del(ipi, t);
      flagged.push(`CPU${t}`);
    }
  }
  return { ipi, phrase: flagged.length ? `kvm_flush_tlb_multi: ${flagged.join(', ')} preempted: set FLUSH_TLB, no IPI` : 'kvm_flush_tlb_multi: no target preempted' };
}
