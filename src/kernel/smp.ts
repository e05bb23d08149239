/**
 * kernel/smp.c: smp_call_function_many_cond() with per-(sender, target)
 * call_single_data (review §2.8). csd[sender][target] is 'queued' from
 * csd_lock() + llist_add() until the target's handler csd_unlock()s it:
 * a SYNC CSD after running the function, an ASYNC one before.
 * The sender's `wait` spins (IRQs on) until all its CSDs are unlocked.
 * IPIs are taken only while the target has IRQs on.
 * Under TSO (hw/store-buffer.ts): csd_lock + llist_add is a locked cmpxchg
 * (drains the sender's buffer before the IPI, which makes the x2APIC
 * weak_wrmsr_fence() redundant here), csd_unlock is smp_store_release (a
 * plain store on x86, buffered in the target's store buffer).
 */
import { array, bits, bool, enumOf, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { CpuView } from '../hw/cpu.js';
import { TLB_FLUSH_ALL, type FlushInfo } from './flush.js';
import type { KernelShape } from './shape.js';
import { defineSbKind, fence, forwarded, loc, storeTo } from '../hw/store-buffer.js';

export function csdFields(k: Pick<KernelShape, 'CPU'>) {
  return { csd: array(k.CPU, array(k.CPU, enumOf(['free', 'queued']))) };
}
export type CsdView = View<ReturnType<typeof csdFields>>;

/** csd_lock() is possible (the previous call to each target has been released). */
export function csdLockable(s: CsdView, sender: number, mask: number): boolean {
  const n = s.csd.length;
  for (let t = 0; t < n; t++) if (bits.has(mask, t) && s.csd[sender]![t] !== 'free') return false;
  return true;
}

/** The CSD of `sender` to the target that owns the store (csd_unlock is the target's store). */
defineSbKind('csd', {
  read: (s: CsdView, l, c) => (s.csd[l.cpu]![c] === 'queued' ? 1 : 0),
  write: (s: CsdView, l, v, c) => void (s.csd[l.cpu]![c] = v ? 'queued' : 'free'),
  show: (l, v) => `csd(from CPU${l.cpu})=${v ? 'locked' : 'unlocked'}`,
});

/** csd_lock + llist_add (locked) + send IPI to every CPU of mask. */
export function csdQueue(s: CsdView, sender: number, mask: number): void {
  fence(s, sender);
  const n = s.csd.length;
  for (let t = 0; t < n; t++) if (bits.has(mask, t)) s.csd[sender]![t] = 'queued';
}

/** csd_unlock() by the target: smp_store_release(&csd->flags, 0). */
export function csdUnlock(s: CsdView, sender: number, target: number): void {
  storeTo(s, target, loc('csd', { cpu: sender }), 0);
}

/** csd_lock_wait() on every CSD of this sender has finished. */
export function csdAllUnlocked(s: CsdView, sender: number): boolean {
  return !s.csd[sender]!.includes('queued');
}

/** The flush IPI from `sender` can be taken on `target` now. */
export function ipiDeliverable(s: CsdView & CpuView, sender: number, target: number): boolean {
  const own = forwarded(s, target, loc('csd', { cpu: sender }));
  return (own === undefined ? s.csd[sender]![target] === 'queued' : own !== 0) && !s.irqOff[target];
}

export function maskNames(mask: number, n: number): string {
  const out: string[] = [];
  for (let c = 0; c < n; c++) if (bits.has(mask, c)) out.push(`CPU${c}`);
  return out.length ? out.join(',') : 'nobody';
}

/**
 * The async scheme's (Nadav Amit 2019) on-stack copy of the flush_tlb_info a
 * target made before acknowledging: the flush still to do in its handler.
 */
export function deferredFlushFields(k: KernelShape) {
  const { CPU, PAGE, mms, maxGen } = k;
  return {
    dfPending: array(CPU, bool()),
    dfMm: array(CPU, int(0, mms - 1)),
    dfVa: array(CPU, int(TLB_FLUSH_ALL, PAGE.size - 1)),
    dfNewGen: array(CPU, int(0, maxGen)),
    dfFreedTables: array(CPU, bool()),
  };
}
export type DeferredFlushView = View<ReturnType<typeof deferredFlushFields>>;

export function deferFlush(s: DeferredFlushView, c: number, f: FlushInfo): void {
  s.dfPending[c] = true;
  s.dfMm[c] = f.mm;
  s.dfVa[c] = f.va;
  s.dfNewGen[c] = f.newGen;
  s.dfFreedTables[c] = f.freedTables;
}
/** Take the deferred flush (and reset the copy so equal states pack equally). */
export function takeDeferredFlush(s: DeferredFlushView, c: number): FlushInfo {
  const f = { mm: s.dfMm[c]!, va: s.dfVa[c]!, newGen: s.dfNewGen[c]!, freedTables: s.dfFreedTables[c]! };
  s.dfPending[c] = false;
  s.dfMm[c] = 0;
  s.dfVa[c] = 0;
  s.dfNewGen[c] = 0;
  s.dfFreedTables[c] = false;
  return f;
}
export function peekDeferredFlush(s: DeferredFlushView, c: number): FlushInfo {
  return { mm: s.dfMm[c]!, va: s.dfVa[c]!, newGen: s.dfNewGen[c]!, freedTables: s.dfFreedTables[c]! };
}
