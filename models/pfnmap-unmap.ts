/**
 * munmap() of a VM_PFNMAP mapping against the driver's unmap_mapping_range()
 * (CVE-2022-39188; fixed by b67fbebd4cf9, "mmu_gather: Force tlb-flush
 * VM_PFNMAP vmas", 2022). A driver maps device pages into user space with
 * VM_PFNMAP: no struct page, no refcount, so the mapping does not keep the
 * frame alive. Before it reuses a frame the driver calls
 * unmap_mapping_range(), which zaps every VMA still in the file's i_mmap.
 * munmap() clears the PTE into its mmu_gather and unlinks the VMA from
 * i_mmap (free_pgtables) before tlb_finish_mmu() flushes. A driver walking
 * i_mmap in between finds no VMA, flushes nothing, returns, and frees the
 * frame while a TLB still maps it:
 *
 *   CPU0 (munmap va0)                CPU1 (ioctl: evict, reuse pfn0)
 *   tlb_gather_mmu; zap va0
 *   tlb_end_vma (no-op on x86)
 *   unlink_file_vma
 *                                    unmap_mapping_range: no VMA left
 *                                    frees pfn0; back to user space:
 *                                    access va0 through its TLB entry
 *   tlb_finish_mmu: flush va0
 *
 * With the fix, tlb_end_vma() flushes a VM_PFNMAP VMA's range before
 * free_pgtables() unlinks it. (The stable backports, and reportedly a 2025
 * mainline rework, flush in free_pgtables() just before unlink_file_vma()
 * instead: the same order, so the same verdicts.) A driver that still finds the VMA is safe
 * either way: its own gather sees munmap's in flight (mm_tlb_flush_nested)
 * and flushes the whole mm.
 *
 * A second VMA of the same mm would hide the bug: the driver's gather on it
 * sees munmap's in flight and flushes the whole mm. `VMAS: 2` maps the page
 * into a second process instead, which the driver zaps and flushes alone.
 *
 * No one else takes mmap_lock here (unmap_mapping_range does not), so it is
 * left out.
 */
import { array, defineModel, enumOf, machine, NONE, pcSteps, type View } from '../src/index.js';
import { defaultHwOptions, hardwareActions } from '../src/hw/index.js';
import * as K from '../src/kernel/index.js';
import { coreProperties } from '../properties/index.js';

const PFN = 0; // the device page

export default defineModel({
  name: 'pfnmap-unmap',
  description: 'munmap of a VM_PFNMAP VMA must flush before it unlinks the VMA from i_mmap: unmap_mapping_range then skips it and the driver frees the frame (CVE-2022-39188, b67fbebd4cf9).',
  params: {
    N: { default: 2, min: 2, max: 3, doc: 'CPUs: threads of the process (one calls munmap, one the driver ioctl); with VMAS=2 the third runs the second process' },
    VMAS: { default: 1, min: 1, max: 2, doc: 'VMAs mapping the device page: mm0 va0 (munmapped), then mm1 va0 (another process, run by the last CPU when N = 3)' },
    pfnFlush: { default: true, doc: 'tlb_end_vma() flushes a VM_PFNMAP range (the fix); false = before b67fbebd4cf9' },
  },
  build: (p) => {
    // OPS bounds tlb_gen: each gather flushes at most twice (tlb_end_vma, tlb_finish_mmu).
    const w = K.world({ N: p.N, P: 1, OPS: 2 * (p.VMAS + 1), userMms: p.VMAS, frame: () => PFN, start: (c) => ({ mm: p.VMAS === 2 && c === 2 ? 1 : K.MM0 }) });
    const { CPU, hwShape: sh, k } = w;
    const vmas: K.Vma[] = Array.from({ length: p.VMAS }, (_, mm) => ({ mm, va: 0, pfnmap: true }));
    const state = {
      ...w.fields,
      ...K.mmuGatherFields(sh),
      ...K.rmapFields(sh, vmas),
      pc: array(CPU, enumOf(['user', 'munmap', 'munmap-zapped', 'munmap-ended', 'munmap-unlinked', 'rmap', 'rmap-gathered', 'rmap-zapped'])),
      munmap: enumOf(['todo', 'done']),
      driver: enumOf(['todo', 'running', 'done']),
    };
    type S = typeof state;
    const flush = (s: View<S>) => (c: number, f: K.FlushInfo) => K.flushTlbMmRange(s, c, f, k, w.tablesOf(f.mm));
    const endVma = (s: View<S>, c: number) => K.tlbEndVma(s, c, { pfnmap: true, forcePfnFlush: p.pfnFlush, flush: flush(s) });
    const finish = (s: View<S>, c: number) => K.tlbFinishMmu(s, c, { nestedFlush: true, tables: w.tablesOf(s.gatherMm[c]), flush: flush(s) });
    const step = pcSteps<S>(CPU);
    const driverVma = (s: View<S>, c: number) => K.rmapVma(s, c, vmas);
    return machine(state, {
      init: w.init,
      actions: {
        munmap_gather: step('user', 'munmap', (s, c) => {
          s.munmap = 'done';
          K.tlbGatherMmu(s, c, K.MM0);
          return 'munmap(va0): unmap_region: tlb_gather_mmu';
        }, (s, c) => s.munmap === 'todo' && K.ownLoadedMm(s, c) === K.MM0),
        munmap_zap: step('munmap', 'munmap-zapped', (s, c) => `unmap_vmas: ${K.tlbZapPte(s, c, 0, { pfnmap: true })}`),
        munmap_end_vma: step('munmap-zapped', 'munmap-ended', endVma),
        munmap_unlink: step('munmap-ended', 'munmap-unlinked', (s, c) => `free_pgtables: ${K.unlinkFileVma(s, c, 0)}`, K.iMmapWriteLockable),
        munmap_finish: step('munmap-unlinked', 'user', (s, c) => `${finish(s, c)}; munmap returns`),
        driver_start: step('user', 'rmap', (s, c) => {
          s.driver = 'running';
          return `ioctl: evict pfn${PFN}: ${K.unmapMappingRangeStart(s, c)}`;
        }, (s) => s.driver === 'todo' && K.iMmapReadLockable(s)),
        // zap_page_range_single() on each VMA the walk finds: a gather of its own on the VMA's mm.
        driver_gather: step('rmap', 'rmap-gathered', (s, c) => {
          const { mm } = driverVma(s, c);
          K.tlbGatherMmu(s, c, mm);
          return `zap_page_range_single(VMA ${s.rmapNext[c]}, mm${mm}): tlb_gather_mmu (tlb_flush_pending ${s.tlbFlushPending[mm] - 1}→${s.tlbFlushPending[mm]})`;
        }, (s, c) => s.rmapNext[c] !== NONE),
        driver_zap: step('rmap-gathered', 'rmap-zapped', (s, c) => K.tlbZapPte(s, c, driverVma(s, c).va, { pfnmap: true })),
        driver_finish_vma: step('rmap-zapped', 'rmap', (s, c) => {
          const out = `${endVma(s, c)}; ${finish(s, c)}`;
          K.rmapAdvance(s, c);
          return out;
        }),
        driver_done: step('rmap', 'user', (s, c) => {
          const out = K.unmapMappingRangeEnd(s, c);
          K.freeFrame(s, PFN);
          s.driver = 'done';
          return `${out}; the driver frees pfn${PFN} (reused for other data); ioctl returns`;
        }, (s, c) => s.rmapNext[c] === NONE),
        ...hardwareActions<S>(sh, defaultHwOptions, { userMode: (s, c) => s.pc[c] === 'user' }),
      },
      invariants: coreProperties<S>(),
      endState: (s) => s.pc.every((x) => x === 'user'),
    });
  },
  expect: [
    { params: {}, verdict: 'holds' },
    { params: { N: 3 }, verdict: 'holds' },
    { params: { VMAS: 2 }, verdict: 'holds', note: "the driver zaps the second process's VMA itself" },
    { params: { VMAS: 2, N: 3 }, verdict: 'holds' },
    { params: { pfnFlush: false }, verdict: 'violated', invariant: 'no-use-after-free', note: 'munmap unlinked the VMA before flushing; the driver skipped it and freed the frame' },
    { params: { pfnFlush: false, VMAS: 2, N: 3 }, verdict: 'violated', invariant: 'no-use-after-free' },
  ],
});
