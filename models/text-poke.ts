/**
 * "x86/alternatives: use temporary mm for text poking" (Nadav Amit, RFC 5/6,
 * Aug 2018; seed 000, with Andy Lutomirski and Peter Zijlstra; the 2019
 * series with Rick Edgecombe, merged as b3fd8e83ada0). text_poke() no longer writes
 * kernel text through a fixmap visible to every CPU: the poking CPU, IRQs
 * off, maps the text page writable (PAGE_KERNEL & ~_PAGE_GLOBAL: W, A, D) at
 * `poking_addr`, a user-half address of the private `poking_mm`, switches to
 * poking_mm (use_temporary_mm), writes, clears the PTE, gets rid of the
 * translation and switches back. Nobody else has poking_mm loaded, so a local
 * flush is enough.
 *
 * Two ways to get rid of the translation (`flow`):
 * - `local` (the 2018 RFC the seed discusses): pte_clear,
 *   __flush_tlb_one_user(poking_addr) while still on poking_mm, then
 *   unuse_temporary_mm. Under PTI that flush also drops the user-PCID copy:
 *   INVPCID type 0 on the user PCID, or invalidate_user_asid() (mark the slot
 *   in user_pcid_flush_mask; Andy: INVPCID is slower than a CR3 write on
 *   Skylake and serializing, marking is nearly free) — `userPcidFlush`, with
 *   `none` for skipping it. Nadav's comment in the patch already calls the
 *   user-PCID part redundant ("the corresponding 'user' address spaces, which
 *   does not exist").
 * - `mm-range` (Andy, Jan 2019: "do unuse_temporary_mm() and *then*
 *   flush_tlb_mm_range(). This is entirely non-sketchy"; what was merged):
 *   pte_clear, unuse_temporary_mm, flush_tlb_mm_range(poking_mm): tlb_gen++,
 *   flush_tlb_func on every CPU that still has poking_mm loaded (none, when
 *   all is well), and the stale entry left under poking_mm's kernel PCID is
 *   dropped by the next use_temporary_mm's flushing CR3 load.
 *
 * World: N CPUs, each running a task of mm0 in the kernel (or in user mode;
 * syscall entry and SWITCH_TO_USER_CR3 with the pending-bit test are
 * modelled, so user PCIDs really get loaded and flushed). mm0 maps the same
 * virtual page poking_addr (va0) to its own user page (pfn0); poking_mm's
 * preallocated PT page maps it to the kernel text page (pfn1) only during a
 * poke. Two ASID slots per CPU. Any CPU may poke (text_mutex: one at a time),
 * POKES times. The hardware walks speculatively on every CPU at any time.
 * The adversary is the one the patch names: "IRQs must be disabled while the
 * temporary mm is loaded, thereby preventing interrupt handler bugs from
 * overriding the kernel memory protection" (x86/mm: Introduce temporary mm
 * structs). Interrupt handlers (when IRQs are on) and NMI handlers (always;
 * only if nmi_uaccess_okay(), added in the same series for
 * bpf_probe_write_user: "user memory addresses may be used to map kernel
 * memory") may write the user address poking_addr on whatever CR3 is loaded
 * (put_user from a buggy handler, bpf_probe_write_user). User mode writes it
 * too (its own page, unless a user PCID still translated poking_mm's PTE;
 * the model has no U/S bit, so it does not even rely on the PTE being
 * supervisor-only; the flip side: with pageKernelGlobal user mode could use
 * the supervisor-only global entry, which real hardware refuses, but no
 * shortest trace relies on that).
 *
 * Properties:
 * - no-text-write-after-poke (the issue's): once a poke has finished, no CPU
 *   writes the text page through poking_addr (no-stale-access with the
 *   poke's return as the flush's return).
 * - no-handler-write-during-poke (the patch's IRQs-off contract): no
 *   interrupt/NMI handler on the poking CPU writes the text page while the
 *   poke runs. An interrupt on the poking CPU cannot outlive the poke: it
 *   runs and returns on the same CR3, and the poke's flush removes whatever it
 *   cached; what it exposes is the window itself.
 *
 * Options that break it: `irqsOn` (an IRQ handler on the poking CPU writes
 * the text page through the temporary mapping), `nmiUaccessOkay=false` (the
 * same from an NMI, which IRQs-off does not stop), `otherCpuLoaded` (another
 * CPU has poking_mm loaded, caches the writable entry speculatively and keeps
 * it after the local-only flush; Andy: "In principle, another CPU could still
 * have the old translation"), `leaveLazy` (the poking CPU stays on poking_mm
 * lazily instead of switching back; harmless for its own poke, which it
 * flushed, but it caches the entry of the NEXT poke, made by another CPU: needs
 * POKES=2). The `mm-range` flow closes otherCpuLoaded (flush_tlb_mm_range
 * IPIs the other CPU) and a single lazy leftover (the initiator's local
 * flush_tlb_func() switches a lazy CPU to init_mm), but not the handlers, and
 * not leaveLazy with two pokes: the first poker's bit stays in
 * mm_cpumask(poking_mm) (lazy cpumask), so the second poke's flush goes
 * through flush_tlb_multi(), where should_flush_tlb() skips the lazy
 * initiator itself.
 * `pageKernelGlobal` (plain PAGE_KERNEL, as v1-v3 of the series mapped it;
 * Andy: "Please tell me that the global bit isn't set in there") breaks the
 * `mm-range` flow only: without PTI the entry is global, nothing INVLPGs it,
 * and back on mm0 any write to the user address poking_addr — even an NMI
 * that passed nmi_uaccess_okay() — lands in kernel text. Hence the merged
 * "Map the page without the global bit, as TLB flushing is done with
 * flush_tlb_mm_range(), which is intended for non-global PTEs". The `local`
 * flow's INVLPG drops global entries too.
 * `userPcidFlush` never matters: poking_mm's user PCID is never loaded (no
 * task of poking_mm ever returns to user mode, and the PCID slot's mark from
 * use_temporary_mm's flushing CR3 load is already set), so INVPCID, marking and
 * nothing give identical verdicts and identical state counts on every row.
 */
import { bits, cpus, defineModel, enumOf, machine, NONE, setOf, sort, array, type View } from '../src/index.js';
import {
  access,
  accessAction,
  accessPossible,
  cpuFields,
  defaultHwOptions,
  describeAccess,
  ghostFields,
  pageTableFields,
  pteGlobalFields,
  pmdInit,
  pteInit,
  speculativeWalkAction,
  tlbFields,
  type HwShape,
} from '../src/hw/index.js';
import {
  asidOfPcid,
  ctxIdOf,
  describeHandlerWrite,
  enterLazyTlb,
  flushGhostFields,
  flushReturned,
  flushStarted,
  flushTargets,
  flushTlbFunc,
  flushTlbOneUser,
  handlerUaccessWrite,
  incMmTlbGen,
  mmFields,
  nmiUaccessOkay,
  noPokeRunning,
  othersInMask,
  phraseOf,
  pokePte,
  pokePteClear,
  ptiFields,
  ptiFlushHooks,
  ptiSwitchHooks,
  shouldFlushTlb,
  switchMmIrqsOff,
  switchToKernelCr3,
  textPokeFields,
  tlbStateFields,
  unuseTemporaryMm,
  userPcid,
  useTemporaryMm,
  writeUserCr3,
  type FlushHooks,
  type FlushInfo,
  type KernelShape,
} from '../src/kernel/index.js';
import { eventuallyLeaves, noHandlerWriteDuringPoke, noTextWriteAfterPoke } from '../properties/index.js';

/** mm ids (init_mm last), their page-table pages and the two data frames. */
const MM0 = 0;
const POKING_MM = 1;
const MMS = 3;
const PT_MM0 = 0;
const PT_POKE = 1;
const PFN_USER = 0;
const PFN_TEXT = 1;
/** poking_addr: the one modelled virtual page. */
const VA = 0;
const ASIDS = 2;

export default defineModel({
  name: 'text-poke',
  description: 'text_poke() through a temporary mm: local-only flush of poking_addr, IRQs off; PTI user-PCID strategies.',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs' },
    POKES: { default: 1, min: 1, max: 2, doc: 'text pokes (any CPU, serialised by text_mutex)' },
    flow: {
      default: 'local',
      values: ['local', 'mm-range'],
      doc: 'local: pte_clear, __flush_tlb_one_user on poking_mm, unuse (2018 RFC); mm-range: pte_clear, unuse, flush_tlb_mm_range (merged 2019)',
    },
    pti: { default: true, doc: 'page-table isolation: every ASID slot has a kernel and a user PCID' },
    userPcidFlush: {
      default: 'invpcid',
      values: ['invpcid', 'mark', 'none'],
      doc: '__flush_tlb_one_user under PTI: INVPCID type 0 on the user PCID, invalidate_user_asid() (mark), or skip it',
    },
    irqsOn: { default: false, doc: 'BUG: the poke runs with IRQs enabled (interrupt handlers run on poking_mm)' },
    nmiUaccessOkay: { default: true, doc: 'NMI handlers write user memory only if nmi_uaccess_okay(); false = BUG (unchecked bpf_probe_write_user)' },
    otherCpuLoaded: { default: false, doc: 'BUG: another CPU (the last) has poking_mm loaded, running kernel code with IRQs on' },
    otherCpuIrqsOff: { default: false, doc: 'BUG (progress), with otherCpuLoaded: that kernel thread runs with IRQs off (spinning on a lock the poker holds), so the flush IPI of the mm-range flow is never delivered' },
    leaveLazy: { default: false, doc: 'BUG: after the poke the CPU stays on poking_mm lazily (enter_lazy_tlb) instead of switching back' },
    pageKernelGlobal: {
      default: false,
      doc: 'map with plain PAGE_KERNEL (v1-v3 of the series): G is set unless PTI masks _PAGE_GLOBAL off, so only with pti=false',
    },
  },
  check: (p) => (p.otherCpuIrqsOff && !p.otherCpuLoaded ? 'otherCpuIrqsOff needs otherCpuLoaded' : undefined),
  build: (p) => {
    const CPU = cpus(p.N, { symmetric: !p.otherCpuLoaded });
    const PAGE = sort('page', 1, { symmetric: true });
    const sh: HwShape = { CPU, PAGE, roots: MMS, tables: 2, frames: 2, pcids: p.pti ? 2 * ASIDS : ASIDS, versions: 2 * p.POKES };
    const k: KernelShape = { CPU, PAGE, mms: MMS, asids: ASIDS, maxGen: p.POKES };
    const hwo = defaultHwOptions;
    const state = {
      ...pageTableFields(sh),
      ...pteGlobalFields(sh),
      ...tlbFields(sh),
      ...cpuFields(sh),
      ...ghostFields(sh),
      ...flushGhostFields(sh),
      ...mmFields(k),
      ...tlbStateFields(k),
      ...ptiFields(k),
      ...textPokeFields(sh, p.POKES),
      /** kernel: a task of mm0 in the kernel; user: that task in user mode; kthread: a kernel thread (current->mm == NULL). */
      mode: array(CPU, enumOf(['kernel', 'user', 'kthread'])),
      /** Flush IPIs the initiator of flush_tlb_mm_range(poking_mm) waits for. */
      ipiPending: array(CPU, setOf(CPU)),
    };
    type S = typeof state;
    const other = p.N - 1;
    /** PAGE_KERNEL carries _PAGE_GLOBAL only without PTI (__default_kernel_pte_mask). */
    const G = p.pageKernelGlobal && !p.pti;
    const inPoke = (s: View<S>, c: number) => s.pokePc[c] !== 'idle';
    const currentMm = (s: View<S>, c: number) => (s.mode[c] === 'kthread' ? NONE : MM0);
    const ipiFor = (s: View<S>, c: number) => s.ipiPending.some((m) => bits.has(m, c));
    const swHooks = p.pti ? ptiSwitchHooks() : {};
    // flush_tlb_func under PTI: flush_tlb_one_user per userPcidFlush; flush_tlb_local always marks the user PCID.
    const fHooks: FlushHooks = p.pti ? ptiFlushHooks(ASIDS, p.userPcidFlush) : {};
    const names = (t: string) => t.replace(/\bmm1\b/g, 'poking_mm');
    const pokeInfo = (gen: number): FlushInfo => ({ mm: POKING_MM, va: VA, newGen: gen, freedTables: false });

    /** The end of __text_poke: local_irq_restore, text_mutex unlock; the poke (and its flush) has finished. */
    const finish = (x: View<S>, c: number) => {
      x.irqOff[c] = false;
      x.pokePc[c] = 'idle';
      flushReturned(x, c, pokeInfo(0), [PT_POKE]);
    };
    /** unuse_temporary_mm(), or the leaveLazy bug. */
    const unuse = (x: View<S>, c: number): string => {
      if (p.leaveLazy) {
        enterLazyTlb(x, c, k);
        x.mode[c] = 'kthread';
        return 'BUG: no unuse_temporary_mm, enter_lazy_tlb: poking_mm stays loaded (lazy)';
      }
      return unuseTemporaryMm(x, c, POKING_MM, MM0, k, swHooks);
    };
    const pokeBegin = (x: View<S>, c: number): string => {
      x.pokesLeft--;
      x.irqOff[c] = !p.irqsOn;
      const ver = x.pteVer[PT_POKE][VA];
      pokePte(x, PT_POKE, VA, PFN_TEXT, { global: G });
      const sw = useTemporaryMm(x, c, POKING_MM, k, swHooks);
      x.pokePc[c] = 'mapped';
      const irq = p.irqsOn ? 'BUG: IRQs left on' : 'local_irq_save';
      return `text_poke: ${irq}; set_pte_at(poking_mm, poking_addr → text pfn${PFN_TEXT}, W${G ? ', G' : ''}, pte v${ver}→v${ver + 1}); ${sw}`;
    };
    const pokeFinishLocal = (x: View<S>, c: number): string => {
      flushStarted(x, c, pokeInfo(0), [PT_POKE]);
      const fl = flushTlbOneUser(x, c, VA, { pti: p.pti, asids: ASIDS, user: p.userPcidFlush });
      const un = unuse(x, c);
      finish(x, c);
      return `__flush_tlb_one_user(poking_addr): ${fl}; ${un}; local_irq_restore: text_poke returns`;
    };
    /** flush_tlb_mm_range(poking_mm, poking_addr) with IRQs still off. */
    const flushMmRange = (x: View<S>, c: number): string => {
      const gen = incMmTlbGen(x, POKING_MM);
      const f = pokeInfo(gen);
      flushStarted(x, c, f, [PT_POKE]);
      let targets = 0;
      let how: string;
      if (othersInMask(x, c, POKING_MM)) {
        // flush_tlb_multi(mm_cpumask): should_flush_tlb() decides for every CPU of the mask, this one included
        targets = flushTargets(x, c, f, { ipiLazyOnFreedTables: true });
        const mask = x.mmCpumask[POKING_MM];
        let self = 'not in mm_cpumask';
        if (bits.has(mask, c)) self = shouldFlushTlb(x, c, f) ? flushTlbFunc(x, c, f, k, fHooks) : `own CPU skipped (should_flush_tlb: ${x.isLazy[c] ? 'lazy' : 'not loaded'})`;
        const others = [...Array(p.N).keys()].filter((t) => t !== c && bits.has(mask, t));
        const skipped = others.filter((t) => !bits.has(targets, t)).map((t) => `CPU${t}`);
        how = `flush_tlb_multi: ${self}${skipped.length ? `; ${skipped.join(',')} skipped (should_flush_tlb false)` : ''}`;
      } else if (x.loadedMm[c] === POKING_MM) how = flushTlbFunc(x, c, f, k, fHooks);
      else how = 'poking_mm loaded nowhere, mm_cpumask empty: no invalidation at all';
      const head = `flush_tlb_mm_range(poking_mm, poking_addr): tlb_gen=${gen}; ${how}`;
      if (targets === 0) {
        finish(x, c);
        return `${head}; returns; local_irq_restore: text_poke returns`;
      }
      x.ipiPending[c] = targets;
      x.pokePc[c] = 'flushing';
      const to = [...Array(p.N).keys()].filter((t) => bits.has(targets, t)).map((t) => `CPU${t}`);
      return `${head}; IPI → ${to.join(',')} (and wait, IRQs off)`;
    };
    const exitToUser = (x: View<S>, c: number): string => {
      x.mode[c] = 'user';
      if (!p.pti) return 'return to user mode';
      const a = asidOfPcid(x.cr3Pcid[c], ASIDS);
      const pending = x.userPcidFlushMask[c][a];
      x.userPcidFlushMask[c][a] = false;
      writeUserCr3(x, c, ASIDS, !pending);
      return `SWITCH_TO_USER_CR3: bit ${a} ${pending ? 'pending → btr, CR3 pcid' + userPcid(a, ASIDS) + ' flushing' : 'clear → CR3 pcid' + userPcid(a, ASIDS) + ' NOFLUSH'}; return to user`;
    };

    return machine(state, {
      init: (s) => {
        pmdInit(s, MM0, PT_MM0);
        pteInit(s, PT_MM0, VA, PFN_USER);
        s.pteAccessed[PT_MM0][VA] = true;
        s.pteDirty[PT_MM0][VA] = true;
        pmdInit(s, POKING_MM, PT_POKE); // poking_init(): the PT page is preallocated, the PTE empty
        s.mmCpumask[MM0] = bits.all(p.N);
        for (let c = 0; c < p.N; c++) {
          s.cr3Root[c] = MM0;
          s.loadedMm[c] = MM0;
          s.ctxCtxId[c][0] = ctxIdOf(MM0);
          s.nextAsid[c] = 1;
        }
        if (p.otherCpuLoaded) {
          s.cr3Root[other] = POKING_MM;
          s.loadedMm[other] = POKING_MM;
          s.ctxCtxId[other][0] = ctxIdOf(POKING_MM);
          s.mode[other] = 'kthread';
          if (p.otherCpuIrqsOff) s.irqOff[other] = true;
          s.mmCpumask[MM0] = bits.del(s.mmCpumask[MM0], other);
          s.mmCpumask[POKING_MM] = bits.add(0, other);
        }
      },
      actions: {
        poke_begin: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'kernel' && !s.isLazy[c] && s.loadedMm[c] === MM0 && s.pokesLeft > 0 && noPokeRunning(s),
          effect: (s, c) => void pokeBegin(s, c),
          describe: (s, c) => names(phraseOf(s, (x) => pokeBegin(x, c))),
        },
        poke_memcpy: {
          over: [CPU],
          guard: (s, c) => s.pokePc[c] === 'mapped',
          effect: (s, c) => {
            access(s, c, VA, 'write', hwo);
            s.pokePc[c] = 'written';
          },
          describe: (s, c) => describeAccess(s, c, VA, 'write', hwo, 'memcpy to poking_addr: '),
        },
        poke_pte_clear: {
          over: [CPU],
          guard: (s, c) => s.pokePc[c] === 'written',
          effect: (s, c) => {
            pokePteClear(s, PT_POKE, VA);
            s.pokePc[c] = 'cleared';
          },
          describe: (s) => `pte_clear(poking_mm, poking_addr) (pte v${s.pteVer[PT_POKE][VA]}→v${s.pteVer[PT_POKE][VA] + 1})`,
        },
        ...(p.flow === 'local'
          ? {
              poke_flush_unuse: {
                over: [CPU],
                guard: (s, c) => s.pokePc[c] === 'cleared',
                effect: (s, c) => void pokeFinishLocal(s, c),
                describe: (s, c) => names(phraseOf(s, (x) => pokeFinishLocal(x, c))),
              },
            }
          : {
              poke_unuse: {
                over: [CPU],
                guard: (s, c) => s.pokePc[c] === 'cleared',
                effect: (s, c) => {
                  unuse(s, c);
                  s.pokePc[c] = 'unused';
                },
                describe: (s, c) => names(phraseOf(s, (x) => unuse(x, c))),
              },
              poke_flush_tlb_mm_range: {
                over: [CPU],
                guard: (s, c) => s.pokePc[c] === 'unused',
                effect: (s, c) => void flushMmRange(s, c),
                describe: (s, c) => names(phraseOf(s, (x) => flushMmRange(x, c))),
              },
              ...(p.otherCpuLoaded
                ? {
                    flush_ipi: {
                      over: [CPU, CPU],
                      guard: (s, t, from) => bits.has(s.ipiPending[from], t) && !s.irqOff[t] && s.mode[t] !== 'user',
                      effect: (s, t, from) => {
                        flushTlbFunc(s, t, pokeInfo(s.tlbGen[POKING_MM]), k, fHooks);
                        s.ipiPending[from] = bits.del(s.ipiPending[from], t);
                      },
                      describe: (s, t, from) =>
                        names(phraseOf(s, (x) => `flush IPI from CPU${from}: ${flushTlbFunc(x, t, pokeInfo(x.tlbGen[POKING_MM]), k, fHooks)}`)),
                    },
                    flush_returns: {
                      over: [CPU],
                      guard: (s, c) => s.pokePc[c] === 'flushing' && s.ipiPending[c] === 0,
                      effect: (s, c) => finish(s, c),
                      describe: () => 'flush_tlb_mm_range(poking_mm) returns; local_irq_restore: text_poke returns',
                    },
                  }
                : {}),
            }),
        speculative_walk: speculativeWalkAction<S>(sh),
        irq_uaccess_write: {
          over: [CPU],
          guard: (s, c) => !s.irqOff[c] && s.mode[c] !== 'user' && accessPossible(s, c, VA),
          effect: (s, c) => void handlerUaccessWrite(s, c, VA, hwo, PFN_TEXT, inPoke(s, c)),
          describe: (s, c) => describeHandlerWrite(s, c, VA, hwo, PFN_TEXT, `IRQ handler${inPoke(s, c) ? ' inside text_poke' : ''}: buggy put_user(poking_addr): `),
        },
        nmi_uaccess_write: {
          over: [CPU],
          guard: (s, c) =>
            s.mode[c] !== 'user' && (!p.nmiUaccessOkay || nmiUaccessOkay(s, c, currentMm(s, c))) && accessPossible(s, c, VA),
          effect: (s, c) => void handlerUaccessWrite(s, c, VA, hwo, PFN_TEXT, inPoke(s, c)),
          describe: (s, c) =>
            describeHandlerWrite(
              s,
              c,
              VA,
              hwo,
              PFN_TEXT,
              `NMI${inPoke(s, c) ? ' inside text_poke' : ''}: ${p.nmiUaccessOkay ? 'nmi_uaccess_okay(), ' : 'BUG: no nmi_uaccess_okay(), '}bpf_probe_write_user(poking_addr): `,
            ),
        },
        syscall: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'user',
          effect: (s, c) => {
            if (p.pti) switchToKernelCr3(s, c, ASIDS);
            s.mode[c] = 'kernel';
          },
          describe: (s, c) => (p.pti ? `syscall entry: SWITCH_TO_KERNEL_CR3 (pcid${asidOfPcid(s.cr3Pcid[c], ASIDS)}, NOFLUSH)` : 'syscall entry'),
        },
        exit_to_user: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'kernel' && !inPoke(s, c) && s.loadedMm[c] === MM0 && !s.isLazy[c] && !ipiFor(s, c),
          effect: (s, c) => void exitToUser(s, c),
          describe: (s, c) => phraseOf(s, (x) => exitToUser(x, c)),
        },
        user_write: accessAction<S>(sh, hwo, (s, c) => s.mode[c] === 'user', { who: 'user ', kinds: ['write'] }),
        ...(p.leaveLazy || p.otherCpuLoaded
          ? {
              schedule_task: {
                over: [CPU],
                guard: (s, c) => s.mode[c] === 'kthread' && !inPoke(s, c),
                effect: (s, c) => {
                  switchMmIrqsOff(s, c, MM0, k, swHooks);
                  s.mode[c] = 'kernel';
                },
                describe: (s, c) => names(phraseOf(s, (x) => `schedule: kernel thread → task of mm0: ${switchMmIrqsOff(x, c, MM0, k, swHooks)}`)),
              },
            }
          : {}),
      },
      invariants: {
        'no-text-write-after-poke': noTextWriteAfterPoke<S>(),
        'no-handler-write-during-poke': noHandlerWriteDuringPoke<S>(),
      },
      endState: (s) => noPokeRunning(s),
      liveness: { 'poke-completes': eventuallyLeaves<S>(CPU, 'the text_poke() the CPU began returns', (s, c) => s.pokePc[c] !== 'idle') },
      // text_poke() runs with IRQs off from begin to end: each of its steps goes on; IPI delivery is strongly fair.
      fairness: {
        poke_memcpy: 'weak',
        poke_pte_clear: 'weak',
        ...(p.flow === 'local'
          ? { poke_flush_unuse: 'weak' as const }
          : { poke_unuse: 'weak' as const, poke_flush_tlb_mm_range: 'weak' as const, ...(p.otherCpuLoaded ? { flush_ipi: 'strong' as const, flush_returns: 'weak' as const } : {}) }),
      },
    });
  },
  expect: [
    { params: {}, verdict: 'holds', note: '2018 RFC flow, INVPCID on the user PCID' },
    { params: { userPcidFlush: 'mark' }, verdict: 'holds' },
    { params: { userPcidFlush: 'none' }, verdict: 'holds', note: "poking_mm's user PCID is never loaded: the user-PCID flush is redundant" },
    { params: { pti: false }, verdict: 'holds' },
    { params: { POKES: 2 }, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { flow: 'mm-range' }, verdict: 'holds' },
    { params: { flow: 'mm-range', POKES: 2 }, verdict: 'holds' },
    { params: { irqsOn: true }, verdict: 'violated', invariant: 'no-handler-write-during-poke', note: 'an IRQ handler writes poking_addr on poking_mm' },
    { params: { irqsOn: true, flow: 'mm-range' }, verdict: 'violated', invariant: 'no-handler-write-during-poke' },
    { params: { nmiUaccessOkay: false }, verdict: 'violated', invariant: 'no-handler-write-during-poke', note: 'IRQs off does not stop NMIs' },
    { params: { otherCpuLoaded: true }, verdict: 'violated', invariant: 'no-text-write-after-poke', note: 'the local-only flush misses the other CPU' },
    { params: { otherCpuLoaded: true, flow: 'mm-range' }, verdict: 'holds', note: 'flush_tlb_mm_range IPIs the other CPU' },
    { params: { leaveLazy: true }, verdict: 'holds', note: 'harmless until another CPU pokes' },
    { params: { leaveLazy: true, POKES: 2 }, verdict: 'violated', invariant: 'no-text-write-after-poke' },
    { params: { leaveLazy: true, flow: 'mm-range' }, verdict: 'holds' },
    { params: { leaveLazy: true, POKES: 2, flow: 'mm-range' }, verdict: 'violated', invariant: 'no-text-write-after-poke', note: 'should_flush_tlb() skips the lazy poking CPU itself' },
    { params: { pageKernelGlobal: true, pti: false }, verdict: 'holds', note: 'INVLPG drops global entries too' },
    { params: { pageKernelGlobal: true, pti: false, flow: 'mm-range' }, verdict: 'violated', invariant: 'no-text-write-after-poke', note: 'nothing INVLPGs the global entry; mm0 uses it' },
    { params: { N: 3 }, options: { liveness: true }, verdict: 'holds', note: 'every text_poke() that begins returns' },
    { params: { flow: 'mm-range', otherCpuLoaded: true }, options: { liveness: true }, verdict: 'holds', note: 'the flush IPI to the CPU that has poking_mm loaded is delivered, and the poke returns' },
    { params: { flow: 'mm-range', otherCpuLoaded: true, otherCpuIrqsOff: true }, options: { liveness: true }, verdict: 'violated', invariant: 'poke-completes(0)', note: 'the poker waits forever for its flush IPI to a CPU that keeps IRQs off' },
  ],
});
