/**
 * The lazy mm_cpumask and the switch window (arch/x86/mm/tlb.c). Since
 * 209954cbc7d0 ("x86/mm/tlb: Update mm_cpumask lazily", 2024) a CPU that
 * switches from mm0 to another mm keeps its mm_cpumask(mm0) bit, and with
 * PCIDs it keeps mm0's ASID slot and TLB entries too. should_flush_tlb()
 * does not IPI it while it runs the other mm; it catches up in
 * switch_mm_irqs_off() on the way back by comparing ctxs[asid].tlb_gen with
 * mm0's tlb_gen.
 *
 * The window: switching back, the CPU reads tlb_gen and decides "no flush"
 * before its CR3 write, and loaded_mm becomes mm0 only after it. A flush
 * that bumps tlb_gen in between must IPI the CPU. Before fea4e317f9e7
 * ("x86/mm: Eliminate window where TLB flushes may be inadvertently
 * skipped", 2025), should_flush_tlb() took LOADED_MM_SWITCHING for "another
 * mm" and skipped the CPU (`switchingIpi: false`). The CPU then ran mm0
 * with the stale entry after the flush had returned. A flush that trims the
 * cpumask (`trimCpumask`, once a second) IPIs it anyway.
 *
 * World: N CPUs, each with a task of mm0 and one of mm1 and two ASID
 * slots; every CPU starts on mm0. mm1 maps nothing: only its being loaded
 * matters. Any CPU may context-switch (three steps,
 * IRQs off), and any CPU on mm0 may munmap a page of mm0 with the mainline
 * flush (IPIs first, local flush, wait for the SYNC CSDs).
 */
import { array, bits, defineModel, enumOf, machine, type View } from '../src/index.js';
import { defaultHwOptions, fairnessUnderNmis, hardwareActions, inNmi, nmiFields, nmiInterruptible, nmiSteps } from '../src/hw/index.js';
import {
  contextSwitchFields,
  contextSwitchSteps,
  csdLockable,
  describeFlushInfo,
  flushIpiFairness,
  flushTargets,
  incMmTlbGen,
  LOADED_MM_SWITCHING,
  maskNames,
  MM0,
  nmiUaccessOkay,
  munmapFlushInfo,
  munmapSteps,
  munmapStepsFairness,
  phraseOf,
  sendFlushIpisFirst,
  switching,
  syncFlushIpi,
  localFlushThenWait,
  unmapOpFields,
  world,
  type FlushTargetOptions,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns, nmiUaccessCurrentMm, wrongMmUaccessFields } from '../properties/index.js';

export default defineModel({
  name: 'lazy-cpumask',
  description: 'Lazy mm_cpumask: should_flush_tlb() must IPI a CPU in the LOADED_MM_SWITCHING window, which may have read the old tlb_gen (fea4e317f9e7).',
  params: {
    N: { default: 2, min: 2, max: 4, doc: 'CPUs' },
    P: { default: 1, min: 1, max: 2, doc: 'user pages of each mm' },
    OPS: { default: 1, min: 1, max: 2, doc: 'munmap operations on mm0' },
    switchingIpi: { default: true, doc: 'should_flush_tlb() IPIs a CPU whose loaded_mm is LOADED_MM_SWITCHING (the fix); false = before fea4e317f9e7' },
    trimCpumask: { default: false, doc: 'every flush is a trimming one (trim_cpumask): CPUs of the mask running another mm get the IPI too' },
    waitIrqsOff: { default: false, doc: 'BUG (progress): the initiator waits for the CSDs with IRQs disabled' },
    nmiUaccess: { default: false, doc: 'NMIs, whose handler reads user memory when nmi_uaccess_okay(), hit any CPU between any two of its steps' },
    switchingMarker: { default: true, doc: 'switch_mm_irqs_off sets loaded_mm = LOADED_MM_SWITCHING before the CR3 write (mainline); false: an NMI after the CR3 write reads through the wrong mm' },
  },
  check: (p) => (p.OPS > p.P ? `OPS=${p.OPS} needs P >= ${p.OPS}: each munmap operation unmaps a page of its own` : undefined),
  build: (p) => {
    const USER_MMS = 2;
    const w = world({ N: p.N, P: p.P, OPS: p.OPS, userMms: USER_MMS, emptyMms: [1], asids: 2 });
    const { CPU, PAGE, hwShape: sh, k } = w;
    const state = {
      ...w.fields,
      ...unmapOpFields(sh, p.OPS),
      ...contextSwitchFields(k, USER_MMS),
      ...nmiFields(sh),
      ...wrongMmUaccessFields(CPU),
      /** Where each CPU's task is in munmap → flush_tlb_mm_range → tlb_finish_mmu. */
      pc: array(CPU, enumOf(['user', 'zapped', 'ipis-sent', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user' && !switching(s, c) && !inNmi(s, c);
    const targets: FlushTargetOptions = { ipiLazyOnFreedTables: true, switchingIpi: p.switchingIpi, trimCpumask: p.trimCpumask };
    return machine(state, {
      init: w.init,
      actions: {
        // The kernel's steps wait while their CPU is in an NMI handler.
        ...nmiInterruptible({
          // ------------------------------------------------- the scheduler
          ...contextSwitchSteps<S>({ CPU, k, userMms: USER_MMS, canSwitch: (s, c) => userMode(s, c), sw: { switchingMarker: p.switchingMarker } }),
          // ------------------------------------------------- a task of mm0 munmaps
          ...munmapSteps<S>({
            CPU,
            PAGE,
            freeTables: false,
            userMode: (s, c) => userMode(s, c) && s.curMm[c] === MM0,
            tablesOf: w.tablesOf,
            irqsOnAtReturn: p.waitIrqsOff,
        }),
        flush_tlb_mm_range: {
          over: [CPU],
          guard: (s, c) => s.pc[c] === 'zapped' && csdLockable(s, c, bits.all(p.N)),
          effect: (s, c) => sendFlushIpisFirst(s, c, { ...targets, tables: w.tablesOf(MM0) }),
          describe: (s, c) =>
            phraseOf(s, (x) => {
              const f = munmapFlushInfo(x, MM0, c);
              incMmTlbGen(x, MM0);
              const t = flushTargets(x, c, f, targets);
              const seen = [...Array(p.N).keys()].filter((o) => o !== c && bits.has(x.mmCpumask[MM0], o) && !bits.has(t, o));
              const why = seen.map((o) => `CPU${o} loaded_mm=${x.loadedMm[o] === LOADED_MM_SWITCHING ? 'LOADED_MM_SWITCHING' : `mm${x.loadedMm[o]}`}: skipped`);
              return `flush_tlb_mm_range(${describeFlushInfo(f)}): lock CSD, send flush IPI → ${maskNames(t, p.N)}${why.length ? ` (${why.join('; ')})` : ''}`;
            }),
        },
        ...localFlushThenWait<S>(CPU, k, { waitIrqsOff: p.waitIrqsOff }),
        ...syncFlushIpi<S>(CPU, k),
        }),
        // ------------------------------------------------- hardware, users, NMIs
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode }),
        ...(p.nmiUaccess ? nmiSteps<S>(sh, defaultHwOptions, { okay: (s, c) => nmiUaccessOkay(s, c, s.curMm[c]), currentMm: (s, c) => s.curMm[c], tablesOf: w.tablesOf }) : {}),
      },
      invariants: { ...coreProperties<S>(), ...(p.nmiUaccess ? { 'nmi-uaccess-current-mm': nmiUaccessCurrentMm<S>() } : {}) },
      endState: (s) => s.pc.every((x, c) => x === 'user' && !switching(s, c) && !s.csd[c].includes('queued')),
      liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'ipis-sent' || s.pc[c] === 'waiting') },
      // The kernel's steps and a begun switch go on (weakly fair; strongly under NMIs), IPI delivery is strongly fair; the scheduler's choices are not fair.
      fairness: fairnessUnderNmis({ ...munmapStepsFairness, ...flushIpiFairness, flush_tlb_mm_range: 'weak', local_flush: 'weak', switch_cr3: 'weak', switch_end: 'weak' }, p.nmiUaccess),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { switchingIpi: false }, verdict: 'violated', invariant: 'no-stale-access', note: 'the CPU read the old tlb_gen and loads mm0 without a flush; the flush skipped it as LOADED_MM_SWITCHING' },
    { params: { switchingIpi: false, trimCpumask: true }, verdict: 'holds', note: 'a trimming flush IPIs every CPU of the mask' },
    { params: { trimCpumask: true }, verdict: 'holds' },
    { params: { nmiUaccess: true }, verdict: 'holds', note: 'nmi_uaccess_okay() says no in the switch window (loaded_mm is LOADED_MM_SWITCHING)' },
    { params: { nmiUaccess: true, switchingMarker: false }, verdict: 'violated', invariant: 'nmi-uaccess-current-mm', note: "without the marker an NMI after the CR3 write reads through next's page tables" },
    { params: {}, options: { liveness: true }, verdict: 'holds', note: 'every flush returns across context switches' },
    { params: { nmiUaccess: true }, options: { liveness: true }, verdict: 'holds', note: 'and across NMIs: handlers return' },
    { params: { waitIrqsOff: true, P: 2, OPS: 2 }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(0)', note: 'two initiators wait for each other with IRQs off' },
  ],
});
