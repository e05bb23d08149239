/**
 * "x86/mm, mm/vmalloc: Defer flush_tlb_kernel_range() targeting NOHZ_FULL
 * CPUs" (Valentin Schneider, RFC v2 20/20, Jul 2023; seed 004, with Dave
 * Hansen, Peter Zijlstra, Nadav Amit). A kernel-range (vmalloc) flush skips
 * isolated CPUs that run in user mode and records a deferred flush; such a CPU
 * does a full flush on its next kernel entry, before kernel code may touch
 * vmalloc memory. Dave Hansen: CPUs may cache any level of the paging
 * hierarchy and walk speculatively at any time, so once a page-table page is
 * freed every CPU must really be flushed; vmalloc does not free page-table
 * pages today.
 *
 * World: CPU0 housekeeping (always in the kernel, the initiator), CPUs 1..N-1
 * NOHZ_FULL, starting in user mode. One vmalloc page va0 → pfn0 in the kernel
 * page tables (one PT page under one PMD shared by every CPU's CR3, PCID 0,
 * non-global so that INVLPG/INVPCID drop it like the kernel's global entries
 * would be). Speculative walks of the kernel address run on every CPU at any
 * time (user mode included: without PTI the kernel half is mapped).
 * The operation: vunmap (clear the PTE; with `freeTable` also pmd_clear the
 * emptied PT page), flush_tlb_kernel_range (INVLPG on every CPU in the kernel,
 * deferred for isolated CPUs in user mode), then free the PT page.
 *
 * Properties: no-stale-access on the kernel address, no-freed-table-walk.
 * Violations: `freeTable` (the deferred CPU walks its cached PMD into the freed
 * PT page — fixed by `ipiOnFreedTables`), `nmiTouches` (an NMI on the isolated
 * CPU reads the range before any entry flush), `entryTouchesBeforeFlush` (the
 * kernel-entry path touches vmalloc memory before the deferred flush).
 */
import { array, bool, cpus, defineModel, enumOf, machine, sort, type View } from '../src/index.js';
import {
  accessAction,
  cpuFields,
  ghostFields,
  invlpg,
  invpcid,
  pageTableFields,
  pmdInit,
  pteInit,
  pteStore,
  speculativeWalkAction,
  defaultHwOptions,
  tlbFields,
  type HwShape,
} from '../src/hw/index.js';
import { flushStartedAndReturned, freeTable, pmdClear } from '../src/kernel/index.js';
import { eventuallyLeaves, noFreedTableWalk, noStaleAccess } from '../properties/index.js';

export default defineModel({
  name: 'nohz-defer',
  description: 'flush_tlb_kernel_range() skips NOHZ_FULL CPUs in user mode; they flush on their next kernel entry.',
  params: {
    N: { default: 2, min: 2, max: 6, doc: 'CPUs (CPU0 housekeeping, the others NOHZ_FULL)' },
    freeTable: { default: false, doc: 'vunmap also frees the emptied page-table page (vmalloc does not today)' },
    ipiOnFreedTables: { default: false, doc: 'fix: when page-table pages are freed, IPI isolated CPUs too (no deferral)' },
    nmiTouches: { default: false, doc: 'BUG: an NMI on an isolated CPU reads the vmalloc range (NMI entry does not run the deferred flush)' },
    entryTouchesBeforeFlush: { default: false, doc: 'BUG: the kernel-entry path touches the vmalloc range before the deferred flush' },
    entriesFair: { default: false, doc: 'liveness assumption: an isolated CPU in user mode enters the kernel again at some point (weakly fair kernel_entry); NOHZ_FULL promises no such thing' },
  },
  build: (p) => {
    const CPU = cpus(p.N, { symmetric: false });
    const PAGE = sort('page', 1, { symmetric: true });
    const sh: HwShape = { CPU, PAGE, roots: 1, tables: 1, frames: 1, pcids: 1, versions: 1 };
    const state = {
      ...pageTableFields(sh),
      ...tlbFields(sh),
      ...cpuFields(sh),
      ...ghostFields(sh),
      mode: array(CPU, enumOf(['user', 'entering', 'kernel'])),
      deferred: array(CPU, bool()),
      op: enumOf(['todo', 'unmapped', 'returned', 'done']),
      tableUnhooked: bool(),
    };
    type S = typeof state;
    const iso = (c: number) => c !== 0;
    const flushKernelRange = (s: View<S>): string => {
      const out: string[] = [];
      for (let c = 1; c < p.N; c++) {
        if (s.mode[c] === 'user' && !(p.freeTable && p.ipiOnFreedTables)) {
          s.deferred[c] = true;
          out.push(`CPU${c} in user mode: deferred`);
        } else {
          invlpg(s, c, 0);
          out.push(`IPI CPU${c}: INVLPG`);
        }
      }
      invlpg(s, 0, 0);
      return out.join(', ');
    };
    return machine(state, {
      init: (s) => {
        pmdInit(s, 0, 0);
        pteInit(s, 0, 0, 0);
        for (let c = 1; c < p.N; c++) s.mode[c] = 'user';
        s.mode[0] = 'kernel';
      },
      actions: {
        vunmap: {
          over: [CPU],
          guard: (s, c) => c === 0 && s.op === 'todo',
          effect: (s) => {
            pteStore(s, 0, 0, { present: false, writable: false, accessed: false, dirty: false, frame: 0 });
            if (p.freeTable) {
              pmdClear(s, 0);
              s.tableUnhooked = true;
            }
            s.op = 'unmapped';
          },
          describe: () => `vunmap va0: pte_clear${p.freeTable ? '; pmd_clear (PT page 0 emptied)' : ''}`,
        },
        flush_tlb_kernel_range: {
          over: [CPU],
          guard: (s, c) => c === 0 && s.op === 'unmapped',
          effect: (s) => {
            flushKernelRange(s);
            flushStartedAndReturned(s, 0, { mm: 0, va: 0, newGen: 0, freedTables: p.freeTable }, [0]);
            s.op = 'returned';
          },
          describe: (s) => {
            const x = structuredClone(s);
            return `flush_tlb_kernel_range(va0): local INVLPG, ${flushKernelRange(x)}; returns`;
          },
        },
        ...(p.freeTable
          ? {
              free_pt_page: {
                over: [CPU],
                guard: (s, c) => c === 0 && s.op === 'returned',
                effect: (s) => {
                  freeTable(s, 0);
                  s.op = 'done';
                },
                describe: () => 'free PT page 0 to the page allocator',
              },
            }
          : {}),
        kernel_entry: {
          over: [CPU],
          guard: (s, c) => iso(c) && s.mode[c] === 'user',
          effect: (s, c) => {
            s.mode[c] = 'entering';
          },
          describe: () => 'syscall/IRQ entry from user (context tracking: leave user mode)',
        },
        entry_deferred_flush: {
          over: [CPU],
          guard: (s, c) => s.mode[c] === 'entering',
          effect: (s, c) => {
            if (s.deferred[c]) invpcid(s, c, 2);
            s.deferred[c] = false;
            s.mode[c] = 'kernel';
          },
          describe: (s, c) => (s.deferred[c] ? 'entry: deferred flush pending → __flush_tlb_all()' : 'entry: no deferred flush'),
        },
        return_to_user: {
          over: [CPU],
          guard: (s, c) => iso(c) && s.mode[c] === 'kernel',
          effect: (s, c) => {
            s.mode[c] = 'user';
          },
          describe: () => 'return to user mode',
        },
        kernel_read: accessAction<S>(
          sh,
          defaultHwOptions,
          (s, c) => s.mode[c] === 'kernel' || (p.entryTouchesBeforeFlush && s.mode[c] === 'entering'),
          { who: 'kernel: ', kinds: ['read'] },
        ),
        ...(p.nmiTouches
          ? { nmi_read: accessAction<S>(sh, defaultHwOptions, (s, c) => iso(c) && s.mode[c] === 'user', { who: 'NMI: ', kinds: ['read'] }) }
          : {}),
        speculative_walk: speculativeWalkAction<S>(sh),
      },
      invariants: { 'no-stale-access': noStaleAccess<S>(), 'no-freed-table-walk': noFreedTableWalk<S>() },
      endState: () => true,
      liveness: { 'deferred-flush-runs': eventuallyLeaves<S>(CPU, 'the deferred flush runs', (s, c) => s.deferred[c]!) },
      // The entry path, once entered, goes on; the initiator finishes its operation.
      fairness: {
        entry_deferred_flush: 'weak',
        flush_tlb_kernel_range: 'weak',
        ...(p.freeTable ? { free_pt_page: 'weak' as const } : {}),
        ...(p.entriesFair ? { kernel_entry: 'weak' as const } : {}),
      },
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { freeTable: true }, verdict: 'violated', invariant: 'no-freed-table-walk' },
    { params: { freeTable: true, ipiOnFreedTables: true }, verdict: 'holds' },
    { params: { nmiTouches: true }, verdict: 'violated', invariant: 'no-stale-access' },
    { params: { entryTouchesBeforeFlush: true }, verdict: 'violated', invariant: 'no-stale-access' },
    {
      params: { N: 3 },
      options: { liveness: true },
      verdict: 'violated',
      invariant: 'deferred-flush-runs(1)',
      note: 'by design: an isolated CPU may stay in user mode forever, and its deferred flush waits for the next kernel entry (safe: nothing in user mode uses the kernel entry)',
    },
    { params: { N: 3, entriesFair: true }, options: { liveness: true }, verdict: 'holds', note: 'a CPU that enters the kernel again runs the deferred flush on the way in' },
  ],
});
