/**
 * Write one word of every 4 KiB page of a freshly allocated table (or of its
 * bytes from..to), before a rehash fills it, and of every buffer whose first
 * access is a read (the recent-lookup filter, the first shared table).
 *
 * Why reads matter: a read fault on a fresh anonymous page maps the shared
 * zero page, and the first write then replaces that mapping (copy on write).
 * Replacing a mapping flushes it from the TLB of every CPU that runs a
 * thread of the process (Linux flush_tlb_mm_range: an IPI to each, a VM
 * exit under KVM). With two participants on two CPUs, the filters, grown
 * step by step to 16 MiB each, took 13,000-16,000 such shootdowns per N=6
 * P=2 K=1 sync run (the TLB line of /proc/interrupts); written first,
 * 90-130. 2 workers, 6 alternating runs each: 4.59-5.57 s (median 4.77)
 * against 4.63-5.33 s (median 4.90).
 *
 * A fresh buffer's pages are only mapped at their first write, each with a
 * page fault (and on a VM a second-level fault on the host). Taken in the
 * middle of a rehash, the faults interleave with its writes; taken by two
 * threads of one process at once in random order (a multi-core rehash),
 * they contend in the kernel. Measured here on a 128 MiB table: rehash with
 * faults 220 ms on one thread and 285 ms per thread on two; prefault 60-75
 * ms, then the rehash 120 ms on one thread and 80-95 ms on two. Two threads
 * each prefaulting their own half, front to back, then rehashing into it
 * (shared-table.ts rehashShare): 93 ms in all, against 120-140 ms with the
 * whole table prefaulted by one thread first.
 */
export function prefault(buf: ArrayBufferLike, from = 0, to = buf.byteLength): void {
  const a = new Int32Array(buf, 0, buf.byteLength >>> 2);
  const end = Math.min(to, buf.byteLength) >>> 2;
  // The first word of each page that starts in from..to-1 (or the first word
  // of the range, if it starts mid-page).
  for (let i = Math.ceil(from / 4); i < end; i = (i & ~1023) + 1024) a[i] = 0;
}
