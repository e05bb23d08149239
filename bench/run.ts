/**
 * `npm run bench`: the benchmark configurations of
 * ../shared/bench/shootdown-spec.md, each run in a fresh Node process (so
 * peak RSS and JIT state are per run), in these modes:
 *
 *   exact          full states, one thread (the reference)
 *   fingerprint    --store fingerprint (64-bit hash compaction)
 *   2 workers      --workers 2, exact and fingerprint
 *   sym            --symmetry cpu, 1 and 2 workers
 *
 * Prints states, seconds, states/s, bytes/state and peak RSS per run and
 * checks every count against the spec (states/transitions, or the orbit
 * count under symmetry). When `spin` / `rumur` are installed
 * (apt-get install spin rumur) it also runs ../shared/bench/anchors/run.sh on
 * the same configurations (SPIN: depth-first, full state storage; Rumur:
 * with and without its CPU symmetry) and prints states/s ratios. Times are
 * wall-clock on whatever else the machine is doing: compare ratios.
 * bench/handwritten.mjs, the same protocol hand-coded on packed words
 * without the engine, runs beside them as a reference for what this
 * explorer design can do in JavaScript on the machine that day.
 *
 *   npm run bench                           every configuration, every mode, anchors if installed
 *   npm run bench -- 5,2,1,sync             one configuration (N,P,K,VARIANT)
 *   npm run bench -- --modes exact,w2       only these modes (exact, fp, w2, fp-w2, sym, sym-w2)
 *   npm run bench -- --no-anchors           tlbcheck only
 *   npm run bench -- --no-rumur             SPIN but not Rumur (Rumur without symmetry is slow)
 *   npm run bench -- --no-reference         without the hand-written JavaScript reference
 *   npm run bench -- --pairs 5              5 (the default when exact and w2 run, 0 = none) extra
 *                                           alternating exact 1-thread / 2-worker pairs on the
 *                                           largest configuration run
 *   npm run bench -- --repeat 3             run exact (1 thread) and SPIN 3 times each (the
 *                                           default), alternately, and report each one's median
 *   npm run bench -- --models [sync,lazy]   the model bench alone (bench/models.ts): every shipped
 *                                           model at its largest fix-on and one violating
 *                                           configuration, against the bench model's transitions/s
 *
 * One run's time moves by ±10–30 % with what else the VM's host does, and a
 * slow spell can last minutes. So exact and SPIN, whose ratio is the
 * headline, are run alternately --repeat times and compared on their medians
 * (every run's time is shown in the counts column). The 2-worker speed-up is
 * measured on alternating pairs (1 thread, then 2 workers, fresh processes);
 * each pair also runs two 1-thread processes side by side, which is what
 * this machine's two cores deliver at that moment: the ceiling for any
 * 2-worker speed-up (docs/performance.md, "What bounds the speed-up").
 * The run ends with the issue's targets, each met or missed.
 */
import { spawnSync } from 'node:child_process';
import { run, table } from './run-process.js';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { type Config, type Row, findRow, issueTargets, median, medianRun, name, perSec, ratioOf, shown, TARGET } from './summary.js';
import { MODEL_ROWS, modelBench } from './models.js';

// A run that fails (tlbcheck exiting non-zero, a pair with wrong counts)
// ends the bench with one line naming it, not a stack trace.
process.on('uncaughtException', (e) => {
  console.error(`bench: ${e instanceof Error ? e.message : String(e)}`);
  process.exit(1);
});

/** The spec's benchmark table (holds in each, NMI = 0). */
export const CONFIGS: Config[] = [
  { N: 5, P: 2, K: 1, VARIANT: 'sync', states: 804096, transitions: 10641920, orbits: 11664 },
  { N: 4, P: 2, K: 2, VARIANT: 'async', states: 2866048, transitions: 33833856, orbits: 136067 },
  { N: 4, P: 3, K: 1, VARIANT: 'sync', states: 3104768, transitions: 45023232, orbits: 150480 },
  { N: 4, P: 2, K: 3, VARIANT: 'async', states: 6300192, transitions: 74599584, orbits: 297892 },
  { N: 6, P: 2, K: 1, VARIANT: 'sync', states: 9616384, transitions: 153993216, orbits: 32368 },
];

interface Mode {
  key: string;
  label: string;
  args: string[];
  symmetric: boolean;
}
const MODES: Mode[] = [
  { key: 'exact', label: 'exact', args: [], symmetric: false },
  { key: 'fp', label: 'fingerprint', args: ['--store', 'fingerprint'], symmetric: false },
  { key: 'w2', label: 'exact, 2 workers', args: ['--workers', '2'], symmetric: false },
  { key: 'fp-w2', label: 'fingerprint, 2 workers', args: ['--store', 'fingerprint', '--workers', '2'], symmetric: false },
  { key: 'sym', label: 'sym cpu', args: ['--symmetry', 'cpu'], symmetric: true },
  { key: 'sym-w2', label: 'sym cpu, 2 workers', args: ['--symmetry', 'cpu', '--workers', '2'], symmetric: true },
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const anchors = join(root, '..', 'shared', 'bench', 'anchors', 'run.sh');

async function runTlbcheck(c: Config, m: Mode): Promise<Row> {
  const args = ['bin/tlbcheck.js', 'models/bench/shootdown.ts', '--json', '--quiet', ...m.args];
  for (const k of ['N', 'P', 'K', 'VARIANT'] as const) args.push('--set', `${k}=${c[k]}`);
  const r = await run(process.execPath, ['--max-old-space-size=16384', ...args], { cwd: root });
  if (r.status !== 0) throw new Error(`tlbcheck ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  const j = JSON.parse(r.stdout) as Record<string, number | string>;
  const want = m.symmetric ? { states: c.orbits } : { states: c.states, transitions: c.transitions };
  const ok = j.verdict === 'holds' && j.states === want.states && (m.symmetric || j.transitions === c.transitions);
  return {
    config: c,
    tool: 'tlbcheck',
    mode: m.label,
    states: j.states as number,
    seconds: (j.elapsedMs as number) / 1000,
    bytesPerState: j.bytesPerState as number,
    rssMb: (j.peakRssBytes as number) / 2 ** 20,
    ok,
    note: ok ? 'match spec' : `MISMATCH (spec ${JSON.stringify(want)}, got ${j.states}/${j.transitions} ${j.verdict})`,
  };
}

/** bench/handwritten.mjs: the protocol hand-coded, no engine (see its header). */
async function runReference(c: Config): Promise<Row> {
  const r = await run(process.execPath, [join(root, 'bench', 'handwritten.mjs'), String(c.N), String(c.P), String(c.K), c.VARIANT]);
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  const kv = Object.fromEntries([...last.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  const ok = r.status === 0 && Number(kv.states) === c.states && Number(kv.transitions) === c.transitions;
  return {
    config: c,
    tool: 'hand-written JS',
    mode: 'no engine, no invariant',
    states: Number(kv.states) || 0,
    seconds: Number(kv.run_s),
    bytesPerState: undefined,
    rssMb: Number(kv.peak_rss_mb),
    ok,
    note: ok ? 'match spec' : `MISMATCH or failure (exit ${r.status}): ${last || r.stderr.trim()}`,
  };
}

function hasTool(t: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${t}`], { encoding: 'utf8' }).status === 0;
}

/** run.sh's last line: tool=… states=… verdict=… run_s=… peak_rss_mb=… */
async function runAnchor(c: Config, tool: 'spin' | 'rumur' | 'rumur-sym'): Promise<Row> {
  const r = await run('bash', [anchors, tool, String(c.N), String(c.P), String(c.K), c.VARIANT, '0'], {
    env: { ...process.env, TIMEOUT: process.env.TIMEOUT ?? '300' },
  });
  const last = r.stdout.trim().split('\n').at(-1) ?? '';
  const kv = Object.fromEntries([...last.matchAll(/(\w+)=(\S+)/g)].map((m) => [m[1], m[2]]));
  const states = Number(kv.states);
  const want = tool === 'rumur-sym' ? c.orbits : c.states;
  const ok = kv.verdict === 'holds' && states === want;
  return {
    config: c,
    tool: tool === 'spin' ? 'SPIN' : 'Rumur',
    mode: tool === 'spin' ? 'dfs, full states' : tool === 'rumur' ? 'no symmetry' : 'sym cpu (scalarset)',
    states: Number.isFinite(states) ? states : 0,
    seconds: Number(kv.run_s),
    bytesPerState: undefined,
    rssMb: Number(kv.peak_rss_mb),
    ok,
    note: ok ? `match spec; compile ${kv.compile_s} s` : `${kv.verdict ?? `exit ${r.status}`} (states ${kv.states}, spec ${want})`,
  };
}

// ----------------------------------------------------------------- arguments
const argv = process.argv.slice(2);
// --models [m1,m2]: the model bench alone (bench/models.ts).
if (argv[0] === '--models') {
  const only = argv[1]?.split(',');
  const names = new Set(MODEL_ROWS.map((r) => r.model));
  const unknownModel = only?.find((m) => !names.has(m));
  if (argv.length > 2 || unknownModel) {
    console.error(`bench: ${unknownModel ? `no model bench rows for "${unknownModel}"` : `unexpected "${argv[2]}"`} (usage: npm run bench -- --models [${[...names].join(',')}])`);
    process.exit(2);
  }
  process.exit((await modelBench(only)) ? 0 : 1);
}
const flag = (f: string) => argv.includes(f);
const VALUED = ['--modes', '--pairs', '--repeat'];
const BARE = ['--no-anchors', '--no-rumur', '--no-reference'];
const value = (f: string) => (argv.includes(f) ? argv[argv.indexOf(f) + 1] : undefined);
const modesArg = value('--modes');
const modes = modesArg !== undefined ? MODES.filter((m) => modesArg.split(',').includes(m.key)) : MODES;
const only = argv.find((a) => /^\d,\d,\d,(sync|async)$/.test(a));
/** A configuration as it is named on the command line: N,P,K,VARIANT. */
const argKey = (c: Config) => `${c.N},${c.P},${c.K},${c.VARIANT}`;
const configs = only ? CONFIGS.filter((c) => argKey(c) === only) : CONFIGS;
const hasMode = (key: string) => modes.some((m) => m.key === key);
const count = (s: string | undefined) => (/^\d+$/.test(s ?? '') ? Number(s) : NaN);
// Default: 5 pairs when both modes they compare are being run anyway.
const pairs = count(value('--pairs') ?? (hasMode('exact') && hasMode('w2') ? '5' : '0'));
const repeat = count(value('--repeat') ?? '3');
const known = (a: string, i: number) => a === only || VALUED.includes(a) || BARE.includes(a) || VALUED.includes(argv[i - 1]!);
function argumentProblem(): string | undefined {
  const unknown = argv.find((a, i) => !known(a, i));
  if (unknown !== undefined) return `unknown argument "${unknown}"`;
  const bare = VALUED.find((f) => flag(f) && value(f) === undefined);
  if (bare) return `${bare} needs a value`;
  if (only && configs.length === 0) return `${only} is not a benchmark configuration`;
  if (modes.length === 0) return `--modes "${modesArg}" names none of ${MODES.map((m) => m.key).join(',')}`;
  if (!Number.isInteger(pairs)) return `--pairs "${value('--pairs')}" is not a count`;
  if (!(repeat >= 1)) return `--repeat "${value('--repeat')}" is not a count >= 1`;
  return undefined;
}
const problem = argumentProblem();
if (problem) {
  // One line: the problem, then how to call it.
  console.error(
    `bench: ${problem} (usage: npm run bench -- [N,P,K,VARIANT] [--modes ${MODES.map((m) => m.key).join(',')}] [--no-anchors] [--no-rumur] ` +
      `[--no-reference] [--pairs N] [--repeat R]; configurations: ${CONFIGS.map(argKey).join(' ')})`,
  );
  process.exit(2);
}
const anchorTools: ('spin' | 'rumur' | 'rumur-sym')[] = [];
if (!flag('--no-anchors')) {
  if (!existsSync(anchors)) console.error(`bench: ${anchors} not found: SPIN/Rumur comparison skipped`);
  else {
    if (hasTool('spin') && hasTool('gcc')) anchorTools.push('spin');
    else console.error('bench: spin (or gcc) not installed (apt-get install spin): SPIN comparison skipped');
    if (hasTool('rumur') && hasTool('gcc')) {
      if (!flag('--no-rumur')) anchorTools.push('rumur');
      anchorTools.push('rumur-sym');
    } else console.error('bench: rumur (or gcc) not installed (apt-get install rumur): Rumur comparison skipped');
  }
}

// ----------------------------------------------------------------------- run
const exactMode = MODES.find((m) => m.key === 'exact')!;
const w2Mode = MODES.find((m) => m.key === 'w2')!;
const rows: Row[] = [];
const done = (r: Row) => {
  console.error(`done: ${name(r.config)}  ${r.tool} ${r.mode}  ${r.states} states  ${r.seconds.toFixed(2)} s`);
  return r;
};
for (const c of configs) {
  // exact (1 thread) and SPIN alternately, so a slow spell hits both.
  const exactRuns: Row[] = [];
  const spinRuns: Row[] = [];
  for (let k = 0; k < repeat; k++) {
    if (hasMode('exact')) exactRuns.push(done(await runTlbcheck(c, exactMode)));
    if (anchorTools.includes('spin')) spinRuns.push(done(await runAnchor(c, 'spin')));
  }
  if (exactRuns.length) rows.push(medianRun(exactRuns));
  for (const m of modes) if (m.key !== 'exact') rows.push(done(await runTlbcheck(c, m)));
  if (!flag('--no-reference')) rows.push(done(await runReference(c)));
  if (spinRuns.length) rows.push(medianRun(spinRuns));
  for (const t of anchorTools) if (t !== 'spin') rows.push(done(await runAnchor(c, t)));
}

// Alternating pairs on the largest configuration run: 1 thread, 2 workers,
// then two 1-thread runs side by side (what the machine's two cores give now).
const largest = configs.reduce((a, c) => (c.states > a.states ? c : a), configs[0]!);
const pairRatios: number[] = [];
const ceilings: number[] = [];
for (let k = 0; k < pairs; k++) {
  const one = await runTlbcheck(largest, exactMode);
  const two = await runTlbcheck(largest, w2Mode);
  const side = await Promise.all([runTlbcheck(largest, exactMode), runTlbcheck(largest, exactMode)]);
  const bad = [one, two, ...side].find((r) => !r.ok);
  if (bad) throw new Error(`pair ${k + 1} on ${name(largest)}: ${bad.mode}: ${bad.note}`);
  pairRatios.push(one.seconds / two.seconds);
  // Two runs' work in the time the later one took, against one run alone.
  const sideSeconds = Math.max(side[0].seconds, side[1].seconds);
  ceilings.push((2 * one.seconds) / sideSeconds);
  console.error(
    `pair ${k + 1}: ${name(largest)}  1 thread ${one.seconds.toFixed(2)} s, 2 workers ${two.seconds.toFixed(2)} s, ` +
      `${pairRatios.at(-1)!.toFixed(2)}x; two 1-thread runs side by side ${side.map((r) => r.seconds.toFixed(2)).join(' and ')} s, ${ceilings.at(-1)!.toFixed(2)}x`,
  );
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
table(
  ['config', 'tool', 'mode', 'states', 's', 'states/s', 'bytes/state', 'peak RSS MB', 'counts'],
  rows.map((r) => [
    name(r.config),
    r.tool,
    r.mode,
    fmt(r.states),
    r.seconds.toFixed(2),
    fmt(perSec(r)),
    r.bytesPerState === undefined ? '-' : r.bytesPerState.toFixed(1),
    r.rssMb.toFixed(0),
    r.note,
  ]),
);

// Ratios: states/s of a tlbcheck mode over the anchor's on the same configuration.
const find = (c: Config, tool: string, mode: string) => findRow(rows, c, tool, mode);
const ratio = (a: Row | undefined, b: Row | undefined) => ratioOf(a, b)?.toFixed(2) ?? '-';
const ratioRows: string[][] = [];
for (const c of configs) {
  const ex = find(c, 'tlbcheck', 'exact');
  const w2 = find(c, 'tlbcheck', 'exact, 2 workers');
  const fp = find(c, 'tlbcheck', 'fingerprint');
  const fpw2 = find(c, 'tlbcheck', 'fingerprint, 2 workers');
  const sym = find(c, 'tlbcheck', 'sym cpu');
  const symw2 = find(c, 'tlbcheck', 'sym cpu, 2 workers');
  const spin = find(c, 'SPIN', 'dfs, full states');
  const rumur = find(c, 'Rumur', 'no symmetry');
  const rsym = find(c, 'Rumur', 'sym cpu (scalarset)');
  const hand = find(c, 'hand-written JS', 'no engine, no invariant');
  ratioRows.push([name(c), ratio(ex, hand), ratio(w2, ex), ratio(fpw2, fp), ratio(ex, spin), ratio(w2, spin), ratio(fp, spin), ratio(ex, rumur), ratio(sym, rsym), ratio(symw2, rsym)]);
}
console.log('');
table(
  ['config', 'exact / hand-written', '2 workers / 1 (exact)', '2 workers / 1 (fp)', 'exact / SPIN', '2 workers / SPIN', 'fp / SPIN', 'exact / Rumur', 'sym / Rumur sym', 'sym 2w / Rumur sym'],
  ratioRows,
);
console.log(
  `\nratios are states/s (higher = tlbcheck faster); "-" = not run or a count mismatch. SPIN/Rumur times exclude generating and compiling the verifier.` +
    (repeat > 1 ? ` exact (1 thread) and SPIN: the median of ${repeat} alternating runs each.` : ''),
);
if (pairRatios.length) {
  console.log(
    `\n2 workers / 1 thread (exact) on ${name(largest)}, ${pairRatios.length} alternating pairs: ${pairRatios.map((r) => r.toFixed(2)).join(', ')}; median ${shown(median(pairRatios), TARGET.speedUp, 2)}` +
      `\ntwo 1-thread runs side by side / one alone (the machine's 2-core ceiling), same pairs: ${ceilings.map((r) => r.toFixed(2)).join(', ')}; median ${median(ceilings).toFixed(2)}`,
  );
}

const targets = issueTargets(rows, configs, pairRatios, ceilings, largest);
if (targets.length) console.log(`\ntargets:\n${targets.map((t) => `  ${t}`).join('\n')}`);

// A full bench ends with the model bench (bench/models.ts); a narrowed one
// (a configuration or modes named) does not.
let modelsOk = true;
if (!only && modesArg === undefined) {
  console.log('\nmodel bench (one thread, exact):');
  modelsOk = await modelBench();
}

// Only tlbcheck's own counts decide the exit status: a SPIN/Rumur run that
// times out (Rumur without symmetry on N=6 takes minutes) is shown, not fatal.
process.exit(rows.every((r) => r.ok || r.tool !== 'tlbcheck') && modelsOk ? 0 : 1);
