/**
 * "x86/mm: Allow flushing for future ASID switches" (Peter Zijlstra, Nov 2017;
 * seed 001, review with Dave Hansen and Andy Lutomirski). Under PTI every ASID
 * slot has a kernel PCID and a user PCID. A flush in kernel mode drops the
 * kernel-PCID entries at once and only marks the user PCID in the per-CPU
 * user_pcid_flush_mask (invalidate_user_asid(), or INVPCID type 0 for a single
 * address with `userPcidFlush=invpcid`); SWITCH_TO_USER_CR3 tests the bit (bt),
 * clears it (btr) and writes the user CR3 without NOFLUSH. Each of these is a
 * separate step here, and an NMI may land between any two of them: its
 * paranoid entry saves CR3 and switches to the kernel CR3, PARANOID_RESTORE_CR3
 * btr's the pending bit of a saved user CR3 and flushes if it was set.
 *
 * World: two mms (mm0, mm1) with one page each (va0 → pfn0 / pfn1), two ASID
 * slots per CPU, every CPU starting in user mode of mm0 in slot 0. A flush
 * operation (mprotect/munmap by the current task, or reclaim of another mm)
 * rewrites the mm's PTE (new version) and runs flush_tlb_mm_range(): the local
 * flush_tlb_func() if the mm is loaded, a flush IPI to every other CPU that has
 * it loaded (taken in user or kernel mode, never in the IRQs-off exit path),
 * and the flush "returns" when every IPI ran. Context switches use
 * switch_mm_irqs_off(); a flushing load of a slot marks its user PCID.
 *
 * Property: no-stale-access from user mode (only user-mode reads are modelled;
 * kernel uaccess runs on the kernel PCID, which is flushed at once).
 *
 * Options (each turns the verdict to violated):
 * - nmiFlush=anywhere: an NMI handler that can flush (set a pending bit) while
 *   it interrupts the exit path between the bt/btr and the CR3 write. The bit it
 *   sets is not seen by the interrupted exit, which writes the user CR3 with
 *   NOFLUSH: the exit's clear-then-write is only safe because NMIs never set
 *   bits (mainline: "NMIs never set bits", so the default is `never`).
 * - nmiFlush=in-user is safe (PARANOID_RESTORE_CR3 honours the bit) unless
 *   nmiRestoreNoflush: the NMI exit restores a user CR3 with NOFLUSH although
 *   a bit is pending.
 * - skipSwitchMark: switch_mm into a stale slot flushes the kernel PCID but
 *   forgets invalidate_user_asid().
 * `singleBtr` does the test and the clear as one btr (Andy's question): same
 * verdicts, the split is only about not dirtying the cache line.
 */
import { array, bits, bool, defineModel, enumOf, int, machine, NONE, setOf, sort, cpus, type View } from '../src/index.js';
import {
  accessAction,
  cpuFields,
  defaultHwOptions,
  ghostFields,
  pageTableFields,
  pmdInit,
  pteInit,
  pteRead,
  pteStore,
  tlbFields,
  type HwShape,
} from '../src/hw/index.js';
import {
  asidOfPcid,
  ctxIdOf,
  flushGhostFields,
  flushReturned,
  flushStarted,
  flushTlbFunc,
  incMmTlbGen,
  isUserPcid,
  mmFields,
  paranoidRestoreUserCr3,
  phraseOf,
  ptiFields,
  ptiFlushHooks,
  ptiSwitchHooks,
  switchMmIrqsOff,
  switchToKernelCr3,
  tlbStateFields,
  writeUserCr3,
  type KernelShape,
} from '../src/kernel/index.js';
import { flushReturns, noStaleAccess } from '../properties/index.js';

const MMS = 2;

export default defineModel({
  name: 'pti-deferred',
  description: 'PTI: kernel-mode flushes mark the user PCID in user_pcid_flush_mask; the exit to user (bt, btr, CR3 write) and NMI RESTORE_CR3 do the deferred user-PCID flush.',
  params: {
    N: { default: 1, min: 1, max: 2, doc: 'CPUs' },
    OPS: { default: 1, min: 1, max: 2, doc: 'flush operations (PTE rewrite + flush_tlb_mm_range)' },
    userPcidFlush: { default: 'mark', values: ['mark', 'invpcid'], doc: 'flush_tlb_one_user under PTI: mark the user ASID (invalidate_user_asid) or INVPCID type 0 on the user PCID' },
    singleBtr: { default: false, doc: 'exit path tests and clears the bit with one btr instead of bt then btr' },
    nmiFlush: { default: 'never', values: ['never', 'in-user', 'anywhere'], doc: 'NMI handlers may flush (set a pending bit): never (mainline), only when they interrupted user mode, or also inside the exit path' },
    nmiRestoreNoflush: { default: false, doc: 'BUG: NMI exit restores a saved user CR3 with NOFLUSH even when its bit is pending' },
    skipSwitchMark: { default: false, doc: 'BUG: switch_mm into a stale ASID slot does not set the user-PCID pending bit' },
    waitIrqsOff: { default: false, doc: 'BUG (progress): flush_tlb_mm_range waits for its IPIs with IRQs off, so two CPUs flushing at once wait for each other (OPS=2)' },
  },
  build: (p) => {
    const CPU = cpus(p.N);
    const PAGE = sort('page', 1, { symmetric: true });
    const asids = 2;
    const sh: HwShape = { CPU, PAGE, roots: MMS + 1, tables: MMS, frames: MMS, pcids: 2 * asids, versions: p.OPS };
    const k: KernelShape = { CPU, PAGE, mms: MMS + 1, asids, maxGen: p.OPS };
    const state = {
      ...pageTableFields(sh),
      ...tlbFields(sh),
      ...cpuFields(sh),
      ...ghostFields(sh),
      ...flushGhostFields(sh),
      ...mmFields(k),
      ...tlbStateFields(k),
      ...ptiFields(k),
      opsLeft: int(0, p.OPS, { init: p.OPS }),
      /** Where each CPU is: user mode, kernel, or inside SWITCH_TO_USER_CR3 after bt / after btr. */
      mode: array(CPU, enumOf(['user', 'kernel', 'exit-tested', 'exit-cleared'])),
      /** The exit path's scratch register: bt found the bit set (write the user CR3 flushing). */
      exitFlush: array(CPU, bool()),
      /** The CR3 PCID saved by the paranoid NMI entry; NONE = not in an NMI. */
      nmiSaved: array(CPU, int(NONE, 2 * asids - 1, { init: NONE })),
      /** mm whose flush_tlb_mm_range() this CPU waits in (IPIs outstanding); NONE = none. */
      flushing: array(CPU, int(NONE, MMS - 1, { init: NONE })),
      /** That flush was started by an NMI handler (which returns only after it), not by the code the NMI interrupted. */
      flushInNmi: array(CPU, bool()),
      ipiPending: array(CPU, setOf(CPU)),
    };
    type S = typeof state;
    const hooks = ptiFlushHooks(asids, p.userPcidFlush);
    const swHooks = ptiSwitchHooks({ skipSwitchMark: p.skipSwitchMark });
    const inNmi = (s: View<S>, c: number) => s.nmiSaved[c] !== NONE;
    const kernelIdle = (s: View<S>, c: number) => s.mode[c] === 'kernel' && !inNmi(s, c) && s.flushing[c] === NONE;
    const mmName = (m: number) => `mm${m}`;

    /** The flush operation; returns its trace phrase. */
    const doFlush = (x: View<S>, c: number, m: number): string => {
      x.opsLeft--;
      const pte = pteRead(x, m, 0);
      pteStore(x, m, 0, { ...pte, accessed: false });
      const gen = incMmTlbGen(x, m);
      const f = { mm: m, va: 0, newGen: gen, freedTables: false };
      flushStarted(x, c, f, [m]);
      let local = 'not loaded here: only tlb_gen++';
      if (x.loadedMm[c] === m) local = flushTlbFunc(x, c, f, k, hooks);
      let targets = 0;
      for (let t = 0; t < p.N; t++) if (t !== c && x.loadedMm[t] === m) targets = bits.add(targets, t);
      const who = inNmi(x, c) ? 'NMI handler: ' : '';
      const head = `${who}flush_tlb_mm_range(${mmName(m)} va0, pte v${pte.ver}→v${pte.ver + 1}, tlb_gen=${gen}): ${local}`;
      if (targets === 0) {
        flushReturned(x, c, f, [m]);
        return `${head}; returns`;
      }
      x.flushing[c] = m;
      x.flushInNmi[c] = inNmi(x, c);
      x.ipiPending[c] = targets;
      return `${head}; IPI → ${[...Array(p.N).keys()].filter((t) => bits.has(targets, t)).map((t) => `CPU${t}`).join(',')}`;
    };
    const maskStr = (x: View<S>, c: number) => `user_pcid_flush_mask={${x.userPcidFlushMask[c].map((b, a) => (b ? a : -1)).filter((a) => a >= 0).join(',')}}`;

    return machine(state, {
      init: (s) => {
        for (let m = 0; m < MMS; m++) {
          pmdInit(s, m, m);
          pteInit(s, m, 0, m);
        }
        s.mmCpumask[0] = bits.all(p.N);
        for (let c = 0; c < p.N; c++) {
          s.cr3Root[c] = 0;
          s.cr3Pcid[c] = asids; // user PCID of slot 0
          s.loadedMm[c] = 0;
          s.ctxCtxId[c][0] = ctxIdOf(0);
          s.nextAsid[c] = 1;
        }
      },
      actions: {
        user_read: accessAction<S>(sh, defaultHwOptions, (s, c) => s.mode[c] === 'user' && !inNmi(s, c), { who: 'user ', kinds: ['read'] }),
        syscall: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'user' && !inNmi(s, c),
          effect: (s, c) => {
            switchToKernelCr3(s, c, asids);
            s.mode[c] = 'kernel';
          },
          describe: (s, c) => `syscall entry: SWITCH_TO_KERNEL_CR3 (pcid${asidOfPcid(s.cr3Pcid[c], asids)}, NOFLUSH)`,
        },
        flush: {
          over: [CPU, MMS],
          guard: (s, c, m) =>
            s.opsLeft > 0 &&
            s.flushing[c] === NONE &&
            (inNmi(s, c)
              ? p.nmiFlush === 'anywhere' || (p.nmiFlush === 'in-user' && s.mode[c] === 'user')
              : s.mode[c] === 'kernel'),
          effect: (s, c, m) => void doFlush(s, c, m),
          describe: (s, c, m) => phraseOf(s, (x) => `${doFlush(x, c, m)}; ${maskStr(x, c)}`),
        },
        ...(p.N > 1 ? { flush_ipi: {
          over: [CPU, CPU],
          guard: (s, t, from) =>
            bits.has(s.ipiPending[from], t) && !inNmi(s, t) && (s.mode[t] === 'user' || s.mode[t] === 'kernel') && !(p.waitIrqsOff && s.flushing[t] !== NONE),
          effect: (s, t, from) => {
            if (s.mode[t] === 'user') switchToKernelCr3(s, t, asids);
            s.mode[t] = 'kernel';
            flushTlbFunc(s, t, { mm: s.flushing[from], va: 0, newGen: 0, freedTables: false }, k, hooks);
            s.ipiPending[from] = bits.del(s.ipiPending[from], t);
          },
          describe: (s, t, from) =>
            phraseOf(s, (x) => {
              const entry = x.mode[t] === 'user' ? 'IRQ entry (SWITCH_TO_KERNEL_CR3), ' : '';
              x.mode[t] = 'kernel';
              const r = flushTlbFunc(x, t, { mm: x.flushing[from], va: 0, newGen: 0, freedTables: false }, k, hooks);
              return `${entry}flush IPI from CPU${from}: ${r}; ${maskStr(x, t)}`;
            }),
        },
        flush_returns: {
          over: [CPU],
          // A flush the NMI interrupted goes on only after the NMI handler returns.
          guard: (s, c) => s.flushing[c] !== NONE && s.ipiPending[c] === 0 && s.flushInNmi[c] === inNmi(s, c),
          effect: (s, c) => {
            flushReturned(s, c, { mm: s.flushing[c], va: 0, newGen: 0, freedTables: false }, [s.flushing[c]]);
            s.flushing[c] = NONE;
            s.flushInNmi[c] = false;
          },
          describe: (s, c) => `flush_tlb_mm_range(${mmName(s.flushing[c])}) returns`,
        } } : {}),
        context_switch: {
          over: [CPU, MMS],
          guard: (s, c, m) => kernelIdle(s, c) && s.loadedMm[c] !== m,
          effect: (s, c, m) => void switchMmIrqsOff(s, c, m, k, swHooks),
          describe: (s, c, m) => phraseOf(s, (x) => `${switchMmIrqsOff(x, c, m, k, swHooks)}; ${maskStr(x, c)}`),
        },
        exit_bt: {
          over: [CPU],
          guard: (s, c) => kernelIdle(s, c),
          effect: (s, c) => {
            const a = asidOfPcid(s.cr3Pcid[c], asids);
            s.exitFlush[c] = s.userPcidFlushMask[c][a];
            if (p.singleBtr) s.userPcidFlushMask[c][a] = false;
            s.mode[c] = p.singleBtr || !s.exitFlush[c] ? 'exit-cleared' : 'exit-tested';
          },
          describe: (s, c) => {
            const a = asidOfPcid(s.cr3Pcid[c], asids);
            return `SWITCH_TO_USER_CR3: ${p.singleBtr ? 'btr' : 'bt'} ${a}, user_pcid_flush_mask → ${s.userPcidFlushMask[c][a] ? 'set' : 'clear'}`;
          },
        },
        ...(p.singleBtr ? {} : { exit_btr: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'exit-tested' && !inNmi(s, c),
          effect: (s, c) => {
            s.userPcidFlushMask[c][asidOfPcid(s.cr3Pcid[c], asids)] = false;
            s.mode[c] = 'exit-cleared';
          },
          describe: (s, c) => `SWITCH_TO_USER_CR3: btr ${asidOfPcid(s.cr3Pcid[c], asids)} (clear pending bit)`,
        } }),
        exit_write_cr3: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'exit-cleared' && !inNmi(s, c),
          effect: (s, c) => {
            writeUserCr3(s, c, asids, !s.exitFlush[c]);
            s.exitFlush[c] = false;
            s.mode[c] = 'user';
          },
          describe: (s, c) => `SWITCH_TO_USER_CR3: write CR3 user pcid${asidOfPcid(s.cr3Pcid[c], asids) + asids} ${s.exitFlush[c] ? 'flushing' : 'NOFLUSH'}; return to user`,
        },
        nmi_entry: {
          over: [CPU],
          guard: (s, c) => !inNmi(s, c),
          effect: (s, c) => {
            s.nmiSaved[c] = s.cr3Pcid[c];
            if (isUserPcid(s.cr3Pcid[c], asids)) switchToKernelCr3(s, c, asids);
          },
          describe: (s, c) =>
            `NMI: SAVE_AND_SWITCH_TO_KERNEL_CR3 (saved pcid${s.cr3Pcid[c]}${isUserPcid(s.cr3Pcid[c], asids) ? ' = user CR3' : ' = kernel CR3, no write'})`,
        },
        nmi_exit: {
          over: [CPU],
          // The handler returns after its own flush, not after one it interrupted.
          guard: (s, c) => inNmi(s, c) && !(s.flushing[c] !== NONE && s.flushInNmi[c]),
          effect: (s, c) => {
            const saved = s.nmiSaved[c];
            if (isUserPcid(saved, asids)) paranoidRestoreUserCr3(s, c, saved, asids, p.nmiRestoreNoflush);
            s.nmiSaved[c] = NONE;
          },
          describe: (s, c) => {
            const saved = s.nmiSaved[c];
            if (!isUserPcid(saved, asids)) return 'NMI exit: PARANOID_RESTORE_CR3: saved kernel CR3, no write';
            const pending = s.userPcidFlushMask[c][asidOfPcid(saved, asids)];
            const flush = pending && !p.nmiRestoreNoflush;
            return `NMI exit: PARANOID_RESTORE_CR3: bit ${pending ? 'pending' : 'clear'} → write user CR3 pcid${saved} ${flush ? 'flushing (btr)' : 'NOFLUSH'}`;
          },
        },
      },
      invariants: { 'no-stale-access': noStaleAccess<S>() },
      ...(p.N > 1
        ? {
            liveness: { 'flush-returns': flushReturns<S>(CPU, (s, c) => s.flushing[c] !== NONE) },
            // The NMI handler returns, and the exit path or flush it interrupted goes on after it (strong: NMIs
            // may keep coming, each one disabling the interrupted code's next step while it runs); IPI delivery
            // is strongly fair.
            fairness: { flush_ipi: 'strong' as const, flush_returns: 'strong' as const, exit_bt: 'strong' as const, ...(p.singleBtr ? {} : { exit_btr: 'strong' as const }), exit_write_cr3: 'strong' as const, nmi_exit: 'weak' as const },
          }
        : {}),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { userPcidFlush: 'invpcid' }, verdict: 'holds' },
    { params: { singleBtr: true }, verdict: 'holds' },
    { params: { nmiFlush: 'in-user' }, verdict: 'holds', note: 'PARANOID_RESTORE_CR3 honours the pending bit' },
    { params: { nmiFlush: 'anywhere' }, verdict: 'violated', invariant: 'no-stale-access', note: 'NMI sets the bit between the exit path\'s bt and its CR3 write' },
    { params: { nmiFlush: 'in-user', nmiRestoreNoflush: true }, verdict: 'violated', invariant: 'no-stale-access' },
    { params: { skipSwitchMark: true }, verdict: 'violated', invariant: 'no-stale-access' },
    { params: { N: 2 }, options: { liveness: true }, verdict: 'holds', note: 'every flush returns: the exit path goes on after each NMI, IPI delivery strongly fair' },
    { params: { N: 2, OPS: 2, waitIrqsOff: true }, options: { liveness: true }, verdict: 'violated', invariant: 'flush-returns(0)', note: 'both CPUs wait for their IPIs with IRQs off' },
  ],
});
