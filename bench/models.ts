/**
 * The model bench (`npm run bench -- --models`, and the last part of a full
 * `npm run bench`): every shipped model at its largest parameter set with
 * the fix on (the run that must hold) and one violating configuration each,
 * one thread, exact store, each in a fresh Node process. It prints states,
 * transitions, seconds, transitions/s, bytes/state and peak RSS, and runs
 * the benchmark model (models/bench/shootdown.ts N=4 P=2 K=2 async) in the
 * same session, so "per-transition rate against the bench model" is a ratio
 * measured on the same machine in the same minutes.
 *
 *   npm run bench -- --models              every row
 *   npm run bench -- --models sync,lazy    only these models' rows
 *
 * Each row's verdict is checked against the one it must give; a wrong
 * verdict fails the bench (exit 1). A row that hits the time limit
 * (TLBCHECK_BENCH_LIMIT seconds, default 900) is shown as incomplete.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, table } from './run-process.js';

export interface ModelRow {
  readonly model: string;
  readonly params: Readonly<Record<string, string | number | boolean>>;
  readonly verdict: 'holds' | 'violated';
  /** The bug the violating row turns on, or the fix the holding row keeps. */
  readonly what: string;
  /** --store for the row (default exact). */
  readonly store?: 'exact' | 'compact';
}

/** The benchmark model row every ratio is taken against. */
export const BENCH_ROW: ModelRow = { model: 'bench/shootdown', params: { N: 4, P: 2, K: 2, VARIANT: 'async' }, verdict: 'holds', what: 'the benchmark protocol' };

const big = { N: 4, P: 2, OPS: 2 };
export const MODEL_ROWS: readonly ModelRow[] = [
  { model: 'sync', params: big, verdict: 'holds', what: 'fix on' },
  { model: 'sync', params: big, verdict: 'holds', what: 'fix on, tree-compressed store', store: 'compact' },
  { model: 'sync', params: { ...big, dirtySetRechecksPte: false }, verdict: 'violated', what: 'D set in a harvested PTE' },
  { model: 'concurrent', params: big, verdict: 'holds', what: 'fix on' },
  { model: 'concurrent', params: { ...big, dirtySetRechecksPte: false }, verdict: 'violated', what: 'D set in a harvested PTE' },
  { model: 'async', params: { ...big, nmiUaccess: false, freeTables: false }, verdict: 'holds', what: 'no NMI uaccess, no table freeing' },
  { model: 'async', params: big, verdict: 'violated', what: 'NMI reads through the stale entry' },
  // N=4 P=2 OPS=2 passes 188 M states and runs out of memory at ~85 B/state: OPS=1 until states shrink.
  { model: 'lazy', params: { ...big, OPS: 1 }, verdict: 'holds', what: 'fix on' },
  { model: 'lazy', params: { ...big, ipiLazyOnFreedTables: false }, verdict: 'violated', what: 'lazy CPU skipped on freed tables' },
  { model: 'relaxed', params: { N: 4, P: 2 }, verdict: 'holds', what: 'fix on' },
  { model: 'relaxed', params: { N: 4, P: 2 }, verdict: 'holds', what: 'fix on, tree-compressed store', store: 'compact' },
  { model: 'relaxed', params: { N: 4, P: 2, change: 'rw-to-ro', relaxedOnRemoval: true }, verdict: 'violated', what: 'relaxed flush on removal' },
  { model: 'nohz-defer', params: { N: 4 }, verdict: 'holds', what: 'fix on' },
  { model: 'nohz-defer', params: { N: 4, freeTable: true }, verdict: 'violated', what: 'deferred flush after a table free' },
  { model: 'text-poke', params: { N: 4 }, verdict: 'holds', what: 'fix on' },
  { model: 'text-poke', params: { N: 4, irqsOn: true }, verdict: 'violated', what: 'poke with IRQs on' },
  // N=3 passes 57 M states in 2 minutes without finishing, so N stays at
  // most 2; OPS=2 deadlocks (both CPUs in an NMI with a flush IPI pending,
  // also before the lazy tables), a model question still open.
  { model: 'pti-deferred', params: { N: 2 }, verdict: 'holds', what: 'fix on' },
  { model: 'pti-deferred', params: { N: 2, nmiFlush: 'anywhere' }, verdict: 'violated', what: 'NMI flush anywhere' },
  { model: 'switch-window', params: {}, verdict: 'holds', what: 'fix on' },
  { model: 'switch-window', params: { switchingMarker: false }, verdict: 'violated', what: 'no LOADED_MM_SWITCHING marker' },
  { model: 'madv-nested', params: { N: 4, OPS: 2 }, verdict: 'holds', what: 'fix on' },
  { model: 'madv-nested', params: { N: 4, OPS: 2, nestedFlush: false }, verdict: 'violated', what: 'no mm_tlb_flush_nested() flush' },
  { model: 'gup-pv-free', params: { N: 4, flush: 'pv', tableFree: 'rcu' }, verdict: 'holds', what: 'fix on (RCU table free)' },
  { model: 'gup-pv-free', params: { N: 4, flush: 'pv' }, verdict: 'violated', what: 'PV flush, direct table free' },
  // N=4 passes 16 M states in a minute without finishing (the free context switches): N=3.
  { model: 'lazy-cpumask', params: { N: 3 }, verdict: 'holds', what: 'fix on' },
  { model: 'lazy-cpumask', params: { N: 3, switchingIpi: false }, verdict: 'violated', what: 'switching CPU skipped' },
  { model: 'mprotect-reclaim', params: { N: 4 }, verdict: 'holds', what: 'fix on' },
  { model: 'mprotect-reclaim', params: { N: 4, batchedPending: false }, verdict: 'violated', what: 'no flush_tlb_batched_pending' },
  { model: 'mremap-truncate', params: { N: 4 }, verdict: 'holds', what: 'fix on' },
  { model: 'mremap-truncate', params: { N: 4, flushUnderPtl: false }, verdict: 'violated', what: 'flush after the PTL is dropped' },
  { model: 'pfnmap-unmap', params: { N: 3, VMAS: 2 }, verdict: 'holds', what: 'fix on' },
  { model: 'pfnmap-unmap', params: { N: 3, VMAS: 2, pfnFlush: false }, verdict: 'violated', what: 'no tlb_end_vma flush for VM_PFNMAP' },
  { model: 'tce-free-pgtables', params: { N: 3 }, verdict: 'holds', what: 'fix on' },
  { model: 'tce-free-pgtables', params: { N: 3, rangeCoversTable: false }, verdict: 'violated', what: 'range misses the freed table under TCE' },
  { model: 'invlpgb-collapse', params: { N: 3 }, verdict: 'holds', what: 'fix on' },
  { model: 'invlpgb-collapse', params: { N: 3, freedTables: false, finalOnly: 'unlessFreedTables' }, verdict: 'violated', what: 'FINAL_ONLY broadcast keeps the cached PMD' },
  { model: 'kvm-pv-flush', params: { N: 3 }, verdict: 'holds', what: 'fix on' },
  { model: 'kvm-pv-flush', params: { N: 3, recordStealTime: 'copy' }, verdict: 'violated', what: 'the host write-back loses FLUSH_TLB' },
  { model: 'arm64-free-pgtables', params: { N: 3 }, verdict: 'holds', what: 'fix on' },
  { model: 'arm64-free-pgtables', params: { N: 3, leafOnlyAlways: true }, verdict: 'violated', what: 'last-level TLBIs keep the walk cache' },
];

export interface ModelResult {
  readonly row: ModelRow;
  readonly verdict: string;
  readonly states: number;
  readonly transitions: number;
  readonly seconds: number;
  readonly bytesPerState: number;
  readonly rssMb: number;
  readonly ok: boolean;
  readonly note: string;
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const runJson = (args: string[]) => run(process.execPath, ['--max-old-space-size=16384', 'bin/tlbcheck.js', ...args], { cwd: root });

export const rowName = (r: ModelRow) => `${r.model} ${Object.entries(r.params).map(([k, v]) => `${k}=${v}`).join(' ')}${r.store ? ` --store ${r.store}` : ''}`.trim();

export async function runModelRow(row: ModelRow, limitSeconds: number): Promise<ModelResult> {
  const args = [`models/${row.model}.ts`, '--json', '--quiet', '--time-limit', String(limitSeconds), ...(row.store ? ['--store', row.store] : [])];
  for (const [k, v] of Object.entries(row.params)) args.push('--set', `${k}=${v}`);
  const r = await runJson(args);
  if (r.status === 2 || !r.stdout.trim().startsWith('{')) throw new Error(`tlbcheck ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  const j = JSON.parse(r.stdout) as Record<string, unknown>;
  const verdict = String(j.verdict);
  const ok = verdict === row.verdict || verdict === 'incomplete';
  return {
    row,
    verdict,
    states: j.states as number,
    transitions: j.transitions as number,
    seconds: (j.elapsedMs as number) / 1000,
    bytesPerState: j.bytesPerState as number,
    rssMb: (j.peakRssBytes as number) / 2 ** 20,
    ok,
    note: verdict === row.verdict ? 'as expected' : verdict === 'incomplete' ? `INCOMPLETE (${String(j.limit)})` : `WRONG VERDICT (expected ${row.verdict})`,
  };
}

/** Rows with fewer transitions are too short for their rates to mean anything. */
const MEASURABLE = 100000;

export const transitionsPerSec = (r: ModelResult) => (r.seconds > 0 ? r.transitions / r.seconds : 0);

/** Runs the rows (of the models named in `only`, if given) and prints the table; returns false if any verdict was wrong. */
export async function modelBench(only?: readonly string[]): Promise<boolean> {
  const limit = Number(process.env.TLBCHECK_BENCH_LIMIT ?? 900);
  const rows = MODEL_ROWS.filter((r) => !only || only.includes(r.model));
  const results: ModelResult[] = [];
  for (const row of [BENCH_ROW, ...rows]) {
    const res = await runModelRow(row, limit);
    console.error(`done: ${rowName(row)}  ${res.verdict}  ${res.states} states  ${res.seconds.toFixed(2)} s`);
    results.push(res);
  }
  const benchRate = transitionsPerSec(results[0]!);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  table(
    ['model', 'params', 'verdict', 'states', 'transitions', 's', 'transitions/s', 'bench / model', 'bytes/state', 'peak RSS MB', 'check'],
    results.map((r) => [
      r.row.model,
      (Object.entries(r.row.params).map(([k, v]) => `${k}=${v}`).join(' ') || '(defaults)') + (r.row.store ? ` --store ${r.row.store}` : ''),
      r.verdict,
      fmt(r.states),
      fmt(r.transitions),
      r.seconds.toFixed(2),
      fmt(transitionsPerSec(r)),
      r === results[0] ? '1.00' : (benchRate / Math.max(1, transitionsPerSec(r))).toFixed(2),
      r.bytesPerState.toFixed(1),
      r.rssMb.toFixed(0),
      r.note,
    ]),
  );
  // Runs this short are start-up, not search: their rates say nothing.
  const models = results.slice(1).filter((r) => r.transitions >= MEASURABLE);
  const slowest = models.reduce((a, r) => (transitionsPerSec(r) < transitionsPerSec(a) ? r : a), models[0]!);
  const fattest = models.reduce((a, r) => (r.bytesPerState > a.bytesPerState ? r : a), models[0]!);
  if (models.length) {
    console.log(
      `\nslowest: ${rowName(slowest.row)} at ${fmt(transitionsPerSec(slowest))} transitions/s (${(benchRate / Math.max(1, transitionsPerSec(slowest))).toFixed(2)}x below the bench model's ${fmt(benchRate)})` +
        `\nlargest states: ${rowName(fattest.row)} at ${fattest.bytesPerState.toFixed(1)} bytes/state` +
        `\n(among the rows of at least ${MEASURABLE.toLocaleString('en-US')} transitions)`,
    );
  }
  return results.every((r) => r.ok);
}
