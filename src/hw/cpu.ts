/**
 * Per-CPU architectural state the TLB rules depend on: the loaded CR3 (root
 * and PCID; bit 63 "no flush" is not stored, SDM §4.10.4.1 / review item 12)
 * and whether maskable interrupts are enabled (IPIs stay pending while
 * IRQs are off; NMIs are taken regardless: nmi.ts, or hardwareActions'
 * one-step nmi_uaccess in access.ts, gated by nmi_uaccess_okay() in
 * kernel/tlbstate.ts).
 */
import { array, bool, int } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from './shape.js';

export function cpuFields(sh: HwShape, init: { root?: number } = {}) {
  const { CPU, roots, pcids } = sh;
  return {
    /** CR3 page-table root (root r = mm r's pgd). */
    cr3Root: array(CPU, int(0, roots - 1, { init: init.root ?? 0 })),
    /** CR3 bits 11:0. */
    cr3Pcid: array(CPU, int(0, pcids - 1)),
    /** RFLAGS.IF clear (local_irq_disable / inside an interrupt handler). */
    irqOff: array(CPU, bool()),
  };
}
export type CpuView = View<ReturnType<typeof cpuFields>>;
