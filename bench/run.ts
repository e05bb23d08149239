/**
 * `npm run bench`: the benchmark configurations of
 * ../shared/bench/shootdown-spec.md, exact mode, one thread, each in a fresh
 * Node process (so peak RSS and JIT state are per configuration).
 * Prints states, transitions, seconds, states/s, bytes/state and peak RSS,
 * and checks the state/transition counts against the spec's table.
 *
 *   npm run bench                 all five configurations
 *   npm run bench -- 5,2,1,sync   just one (N,P,K,VARIANT)
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

interface Config {
  N: number;
  P: number;
  K: number;
  VARIANT: 'sync' | 'async';
  states: number;
  transitions: number;
}

/** The spec's benchmark table (holds in each, NMI = 0). */
export const CONFIGS: Config[] = [
  { N: 5, P: 2, K: 1, VARIANT: 'sync', states: 804096, transitions: 10641920 },
  { N: 4, P: 2, K: 2, VARIANT: 'async', states: 2866048, transitions: 33833856 },
  { N: 4, P: 3, K: 1, VARIANT: 'sync', states: 3104768, transitions: 45023232 },
  { N: 4, P: 2, K: 3, VARIANT: 'async', states: 6300192, transitions: 74599584 },
  { N: 6, P: 2, K: 1, VARIANT: 'sync', states: 9616384, transitions: 153993216 },
];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function runOne(c: Config): Record<string, unknown> {
  const args = ['bin/tlbcheck.js', 'models/bench/shootdown.ts', '--json', '--quiet'];
  for (const k of ['N', 'P', 'K', 'VARIANT'] as const) args.push('--set', `${k}=${c[k]}`);
  const r = spawnSync(process.execPath, ['--max-old-space-size=16384', ...args], { cwd: root, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`tlbcheck exited ${r.status}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}

const only = process.argv[2];
const configs = only
  ? CONFIGS.filter((c) => `${c.N},${c.P},${c.K},${c.VARIANT}` === only)
  : CONFIGS;
if (only && configs.length === 0) {
  console.error(`bench: no configuration ${only}; known: ${CONFIGS.map((c) => `${c.N},${c.P},${c.K},${c.VARIANT}`).join(' ')}`);
  process.exit(2);
}

const header = ['config', 'states', 'transitions', 'verdict', 'seconds', 'states/s', 'bytes/state', 'peak RSS MB', 'counts'];
const rows: string[][] = [];
let bad = 0;
for (const c of configs) {
  const r = runOne(c);
  const ok = r.states === c.states && r.transitions === c.transitions && r.verdict === 'holds';
  if (!ok) bad++;
  rows.push([
    `N=${c.N} P=${c.P} K=${c.K} ${c.VARIANT}`,
    String(r.states),
    String(r.transitions),
    String(r.verdict),
    ((r.elapsedMs as number) / 1000).toFixed(2),
    Math.round(r.statesPerSec as number).toLocaleString('en-US'),
    (r.bytesPerState as number).toFixed(1),
    ((r.peakRssBytes as number) / 2 ** 20).toFixed(0),
    ok ? 'match spec' : `MISMATCH (spec ${c.states}/${c.transitions})`,
  ]);
  console.error(`done: ${rows[rows.length - 1]!.join('  ')}`);
}
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
console.log(line(header));
console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
for (const r of rows) console.log(line(r));
process.exit(bad ? 1 : 0);
