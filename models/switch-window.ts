/**
 * The LOADED_MM_SWITCHING window of switch_mm_irqs_off() (arch/x86/mm/tlb.c),
 * interleaved:
 *
 *   this_cpu_write(cpu_tlbstate.loaded_mm, LOADED_MM_SWITCHING); barrier();
 *   if (next != &init_mm && !cpumask_test_cpu(cpu, mm_cpumask(next)))
 *           cpumask_set_cpu(cpu, mm_cpumask(next));      // LOCK BTS
 *   else    smp_mb();
 *   next_tlb_gen = atomic64_read(&next->context.tlb_gen); choose_new_asid();
 *   ...  load_new_mm_cr3(next->pgd, new_asid, need_flush);  // serializing
 *   barrier(); this_cpu_write(cpu_tlbstate.loaded_mm, next);
 *
 * With IRQs off, so flush IPIs wait, but NMIs can land between the steps
 * (`splitSwitch`: begin / CR3 write / end as three steps; false = one atomic
 * step, what the other models do). context_switch() calls it before
 * switch_to(), so during the window `current` is still the previous task.
 *
 * World: CPU0 context-switches between a task of mm0 and a task of mm1 (two
 * ASID slots, so mm0 keeps its slot and TLB entries while mm1 runs, and CPU0
 * keeps its mm_cpumask(mm0) bit: the lazy cpumask). Its NMI handler reads
 * user va0 (copy_from_user_nmi) whenever nmi_uaccess_okay(). CPU1 runs mm0
 * and munmaps va0 with the mainline (concurrent) flush, which IPIs CPU0 when
 * should_flush_tlb() sees it on mm0 or LOADED_MM_SWITCHING.
 * mm m's page tables: root m → PT page m → va0 → pfn m.
 *
 * Findings:
 * - `switchingMarker=false`: an NMI after the CR3 write still sees
 *   loaded_mm == prev == current->mm and reads user memory through next's
 *   page tables (nmi-uaccess-current-mm). The atomic switch hides this.
 * - `tso` with `switchingMb=false` (the else-branch smp_mb() the lazy
 *   cpumask made necessary): CPU0's loaded_mm=LOADED_MM_SWITCHING store is
 *   still in its store buffer when CPU1's should_flush_tlb() reads loaded_mm,
 *   and CPU0's tlb_gen read passed it: CPU0 reuses its mm0 ASID without a
 *   flush and CPU1 skips it (no-stale-access). Without TSO the barrier is
 *   not needed.
 */
import { array, cpus, defineModel, enumOf, int, machine, sort, type View } from '../src/index.js';
import {
  access,
  accessAction,
  accessPossible,
  cpuFields,
  defaultHwOptions,
  describeAccess,
  describeStoreBuffer,
  drainAction,
  ghostFields,
  latch,
  pageTableFields,
  pscEvictAction,
  pmdInit,
  pteInit,
  sbLength,
  speculativeWalkAction,
  tlbEvictAction,
  tlbFields,
  tlbLookup,
  tsoOn,
  tsoParams,
  walkPlan,
  type HwOptions,
  type HwShape,
} from '../src/hw/index.js';
import {
  csdFields,
  csdLockable,
  ctxIdOf,
  describeFlushInfo,
  flushGhostFields,
  flushInfoFields,
  flushTargets,
  folioFields,
  incMmTlbGen,
  kernelStoreBufferFields,
  LOADED_MM_SWITCHING,
  maskNames,
  mmFields,
  munmapFlushInfo,
  flushIpiFairness,
  munmapSteps,
  munmapStepsFairness,
  sendFlushIpisFirst,
  syncFlushIpi,
  localFlushThenWait,
  nmiUaccessOkay,
  ownLoadedMm,
  phraseOf,
  saveSwitchPlan,
  switchMmBegin,
  switchMmEnd,
  switchMmIrqsOff,
  switchMmLoadCr3,
  switchPlanOf,
  switchStepFields,
  tlbStateFields,
  unmapOpFields,
  type KernelShape,
  type SwitchOptions,
} from '../src/kernel/index.js';
import { coreProperties, flushReturns, nmiUaccessCurrentMm, wrongMmUaccessFields } from '../properties/index.js';

const MM0 = 0;
const MM1 = 1;
const SWITCHER = 0;
const INITIATOR = 1;

export default defineModel({
  name: 'switch-window',
  description:
    'switch_mm_irqs_off() as separate steps: NMIs in the LOADED_MM_SWITCHING window (nmi_uaccess_okay), and under TSO the smp_mb() that orders the loaded_mm store before the tlb_gen read.',
  params: {
    splitSwitch: { default: true, doc: 'switch_mm_irqs_off as three steps (begin / CR3 write / loaded_mm=next) with NMIs between them; false = one atomic step' },
    switchingMarker: { default: true, doc: 'switch_mm_irqs_off sets loaded_mm = LOADED_MM_SWITCHING before the CR3 write (mainline); false = loaded_mm stays prev until after it' },
    switchingMb: { default: true, doc: 'smp_mb() before the tlb_gen read when the mm_cpumask bit is already set (mainline); matters only with tso' },
    nmiUaccess: { default: true, doc: "CPU0's NMI handler reads user memory (copy_from_user_nmi) when nmi_uaccess_okay()" },
    munmap: { default: true, doc: 'CPU1 munmaps va0 of mm0 (flush_tlb_mm_range) while CPU0 switches' },
    switchLeavesIrqsOff: { default: false, doc: 'BUG (progress): the context switch returns without local_irq_enable(): the flush IPI to CPU0 is never delivered' },
    ...tsoParams,
  },
  build: (p) => {
    const CPU = cpus(2, { symmetric: false });
    const PAGE = sort('page', 1, { symmetric: true });
    const mms = 3; // mm0, mm1, init_mm
    const sh: HwShape = { CPU, PAGE, roots: mms, tables: 2, frames: 2, pcids: 2, versions: 1 };
    const k: KernelShape = { CPU, PAGE, mms, asids: 2, maxGen: 1 };
    const o: HwOptions = { ...defaultHwOptions, storeBufferDepth: p.tso };
    const sw: SwitchOptions = { switchingMarker: p.switchingMarker, switchingMb: p.switchingMb };
    const state = {
      ...pageTableFields(sh),
      ...tlbFields(sh),
      ...cpuFields(sh),
      ...ghostFields(sh),
      ...folioFields(sh),
      ...mmFields(k),
      ...tlbStateFields(k),
      ...flushInfoFields(k),
      ...flushGhostFields(sh),
      ...csdFields(k),
      ...unmapOpFields(sh, p.munmap ? 1 : 0),
      ...switchStepFields(k),
      ...wrongMmUaccessFields(CPU),
      ...kernelStoreBufferFields(sh, mms, p.tso),
      /** mm of the task `current` on each CPU (prev's until the switch ends). */
      cur: array(CPU, int(0, 1)),
      /** Where CPU0 is in switch_mm_irqs_off: not switching, after the tlb_gen read, after the CR3 write. */
      phase: array(CPU, enumOf(['none', 'begun', 'cr3-loaded'])),
      /** CPU1's munmap → flush_tlb_mm_range → tlb_finish_mmu (CPU0 stays 'user'). */
      pc: array(CPU, enumOf(['user', 'zapped', 'ipis-sent', 'waiting', 'returned'])),
    };
    type S = typeof state;
    const switching = (s: View<S>, c: number) => s.phase[c] !== 'none';
    const userMode = (s: View<S>, c: number) => s.pc[c] === 'user' && !switching(s, c);
    const mmName = (m: number) => (m === LOADED_MM_SWITCHING ? 'LOADED_MM_SWITCHING' : m === mms - 1 ? 'init_mm' : `mm${m}`);
    const sb = (s: View<S>, c: number) => (tsoOn(s) && sbLength(s, c) > 0 ? `; store buffer ${describeStoreBuffer(s, c)}` : '');
    const finish = (x: View<S>, c: number, next: number) => {
      x.cur[c] = next; // switch_to(): current = next task
      x.phase[c] = 'none';
      if (!p.switchLeavesIrqsOff) x.irqOff[c] = false;
    };
    return machine(state, {
      init: (s) => {
        pmdInit(s, MM0, 0);
        pmdInit(s, MM1, 1);
        pteInit(s, 0, 0, 0);
        pteInit(s, 1, 0, 1);
        s.mmCpumask[MM0] = 0b11;
        for (let c = 0; c < 2; c++) {
          s.cr3Root[c] = MM0;
          s.loadedMm[c] = MM0;
          s.ctxCtxId[c][0] = ctxIdOf(MM0);
          s.nextAsid[c] = 1;
        }
      },
      actions: {
        // ------------------------------------------------- CPU0: context switch
        switch_mm: {
          over: [CPU, 2],
          guard: (s, c, m) => c === SWITCHER && !switching(s, c) && s.cur[c] !== m,
          effect: (s, c, m) => {
            if (!p.splitSwitch) {
              switchMmIrqsOff(s, c, m, k, sw);
              finish(s, c, m);
              return;
            }
            s.irqOff[c] = true;
            saveSwitchPlan(s, c, switchMmBegin(s, c, m, k, sw).plan);
            s.phase[c] = 'begun';
          },
          describe: (s, c, m) =>
            phraseOf(s, (x) => {
              if (!p.splitSwitch) return `schedule → task of mm${m}: ${switchMmIrqsOff(x, c, m, k, sw)}`;
              return `schedule → task of mm${m}, IRQs off: ${switchMmBegin(x, c, m, k, sw).phrase}${sb(x, c)}`;
            }),
        },
        ...(p.splitSwitch
          ? {
              switch_cr3: {
                over: [CPU],
                guard: (s, c) => s.phase[c] === 'begun',
                effect: (s, c) => {
                  switchMmLoadCr3(s, c, switchPlanOf(s, c)!, sw);
                  s.phase[c] = 'cr3-loaded';
                },
                describe: (s, c) =>
                  phraseOf(s, (x) => {
                    const lm = ownLoadedMm(x, c);
                    return `load_new_mm_cr3(mm${x.swNext[c]}): ${switchMmLoadCr3(x, c, switchPlanOf(x, c)!, sw)}; loaded_mm still ${mmName(lm)}, current->mm = mm${x.cur[c]}`;
                  }),
              },
              switch_end: {
                over: [CPU],
                guard: (s, c) => s.phase[c] === 'cr3-loaded',
                effect: (s, c) => {
                  const plan = switchPlanOf(s, c)!;
                  switchMmEnd(s, c, plan);
                  saveSwitchPlan(s, c, null);
                  finish(s, c, plan.next);
                },
                describe: (s, c) => phraseOf(s, (x) => {
                  const next = x.swNext[c];
                  switchMmEnd(x, c, switchPlanOf(x, c)!);
                  return `loaded_mm = mm${next}; switch_to: current = task of mm${next}, IRQs ${p.switchLeavesIrqsOff ? 'left OFF' : 'on'}${sb(x, c)}`;
                }),
              },
            }
          : {}),
        // ------------------------------------------------- CPU1: munmap + flush
        ...(p.munmap
          ? {
              ...munmapSteps<S>({
                CPU,
                PAGE,
                freeTables: false,
                userMode: (s, c) => c === INITIATOR && userMode(s, c),
                tablesOf: (mm) => (mm === MM0 ? [0] : []),
                irqsOnAtReturn: false,
              }),
              flush_tlb_mm_range: {
                over: [CPU],
                guard: (s, c) => s.pc[c] === 'zapped' && csdLockable(s, c, 0b11),
                effect: (s, c) => {
                  sendFlushIpisFirst(s, c, { ipiLazyOnFreedTables: true, tables: [0] });
                },
                describe: (s, c) =>
                  phraseOf(s, (x) => {
                    const f = munmapFlushInfo(x, MM0, c);
                    incMmTlbGen(x, MM0, c);
                    const t = flushTargets(x, c, f, { ipiLazyOnFreedTables: true });
                    const seen = `CPU${SWITCHER} loaded_mm=${mmName(x.loadedMm[SWITCHER])} in memory`;
                    return `flush_tlb_mm_range(${describeFlushInfo(f)}): should_flush_tlb sees ${seen}; send flush IPI → ${maskNames(t, 2)}`;
                  }),
              },
              ...localFlushThenWait<S>(CPU, k),
              ...syncFlushIpi<S>(CPU, k),
            }
          : {}),
        // ------------------------------------------------------ hardware, NMIs
        user_read: accessAction<S>(sh, o, (s, c) => userMode(s, c), { who: 'user ', kinds: ['read'] }),
        ...(p.nmiUaccess
          ? {
              nmi_uaccess: {
                over: [CPU],
                guard: (s, c) => c === SWITCHER && nmiUaccessOkay(s, c, s.cur[c]) && accessPossible(s, c, 0),
                effect: (s, c) => {
                  const e = tlbLookup(s, c, s.cr3Pcid[c], 0);
                  const table = e ? e.table : walkPlan(s, c, 0)!.table;
                  if (table !== s.cur[c]) s.wrongMmUaccess = latch(s.wrongMmUaccess, c);
                  access(s, c, 0, 'read', o);
                },
                describe: (s, c) => {
                  return `${describeAccess(s, c, 0, 'read', o, 'NMI: nmi_uaccess_okay() → ')} [current->mm=mm${s.cur[c]}, loaded_mm=${mmName(ownLoadedMm(s, c))}, CR3 → mm${s.cr3Root[c]}'s page tables]`;
                },
              },
            }
          : {}),
        speculative_walk: speculativeWalkAction<S>(sh),
        tlb_evict: tlbEvictAction<S>(sh),
        psc_evict: pscEvictAction<S>(sh),
        ...(p.tso ? { sb_drain: drainAction<S>(sh) } : {}),
      },
      invariants: { ...coreProperties<S>(), 'nmi-uaccess-current-mm': nmiUaccessCurrentMm<S>() },
      // The flush returns: the switch goes on once begun, the kernel's flush steps go on, and IPI delivery is strongly fair.
      ...(p.munmap
        ? {
            liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.pc[c] === 'ipis-sent' || s.pc[c] === 'waiting') },
            fairness: {
              ...munmapStepsFairness,
              ...flushIpiFairness,
              flush_tlb_mm_range: 'weak' as const,
              local_flush: 'weak' as const,
              ...(p.splitSwitch ? { switch_cr3: 'weak' as const, switch_end: 'weak' as const } : {}),
            },
          }
        : {}),
      endState: (s) => s.phase[SWITCHER] === 'none' && s.pc[INITIATOR] === 'user' && !s.csd[INITIATOR].includes('queued'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { switchingMarker: false }, verdict: 'violated', invariant: 'nmi-uaccess-current-mm', note: "NMI after the CR3 write sees loaded_mm == current->mm and reads through next's page tables" },
    { params: { switchingMarker: false, splitSwitch: false }, verdict: 'holds', note: 'an atomic switch step hides the window' },
    { params: { switchingMb: false }, verdict: 'holds', note: 'without store buffers the smp_mb() is not needed' },
    { params: { tso: 1 }, verdict: 'holds' },
    { params: { tso: 1, switchingMb: false }, verdict: 'violated', invariant: 'no-stale-access', note: "loaded_mm=SWITCHING still buffered when CPU1's should_flush_tlb reads it; CPU0 read the old tlb_gen" },
    { params: {}, options: { liveness: true }, verdict: 'holds', note: "CPU1's flush returns across CPU0's context switch" },
    { params: { switchLeavesIrqsOff: true }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(1)', note: 'CPU0 keeps IRQs off after the switch: the IPI is never delivered and CPU1 waits forever' },
  ],
});
