/**
 * The bench's arithmetic, apart from the processes it runs (bench/run.ts):
 * medians over repeated runs, states/s ratios and the issue's targets. Kept
 * pure so test/bench-summary.test.ts can check it on made-up rows.
 */

export interface Config {
  N: number;
  P: number;
  K: number;
  VARIANT: 'sync' | 'async';
  states: number;
  transitions: number;
  orbits: number;
}

export interface Row {
  config: Config;
  tool: string;
  mode: string;
  states: number;
  seconds: number;
  bytesPerState: number | undefined;
  rssMb: number;
  ok: boolean;
  note: string;
}

/** The issue's performance targets. */
export const TARGET = { spinRatio: 2.5, bytesPerState: 32, speedUp: 1.8 } as const;

export const name = (c: Config) => `N=${c.N} P=${c.P} K=${c.K} ${c.VARIANT}`;

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * The run of median time among repeats (for an even count, the slower of the
 * middle two), its note listing every time. A run whose counts are wrong is
 * returned instead, so a mismatch is never hidden behind a median.
 */
export function medianRun(runs: Row[]): Row {
  const bad = runs.find((r) => !r.ok);
  if (bad || runs.length === 1) return bad ?? runs[0]!;
  const sorted = [...runs].sort((a, b) => a.seconds - b.seconds);
  const mid = sorted[Math.floor(sorted.length / 2)]!;
  return { ...mid, note: `${mid.note}; median of ${runs.map((r) => r.seconds.toFixed(2)).join(', ')} s` };
}

export const perSec = (r: Row) => (r.seconds > 0 ? r.states / r.seconds : 0);

/** a's states/s over b's, when both ran and both counted right. */
export const ratioOf = (a: Row | undefined, b: Row | undefined) =>
  a && b && perSec(b) > 0 && a.ok && b.ok ? perSec(a) / perSec(b) : undefined;

export const findRow = (rows: Row[], c: Config, tool: string, mode: string) =>
  rows.find((r) => r.config === c && r.tool === tool && r.mode === mode);

/**
 * x to `digits` decimals, or to one more when x is close enough to the limit
 * that the rounding could print the limit itself (1.7966 as "1.80").
 */
export function shown(x: number, limit: number, digits: number): string {
  return x.toFixed(Math.abs(x - limit) < 0.5 * 10 ** -digits ? digits + 1 : digits);
}

/**
 * The performance targets (issue 6's "Done when"), each "met" or "MISSED"
 * on this run's numbers. A target whose measurements were not all taken (a
 * mode or tool left out, a count mismatch) is not listed.
 */
export function issueTargets(rows: Row[], configs: Config[], pairRatios: number[], ceilings: number[], largest: Config): string[] {
  const out: string[] = [];
  const verdict = (met: boolean) => (met ? 'met   ' : 'MISSED');
  const spin = configs.map((c) => ({ c, r: ratioOf(findRow(rows, c, 'tlbcheck', 'exact'), findRow(rows, c, 'SPIN', 'dfs, full states')) }));
  if (spin.length && spin.every((x) => x.r !== undefined)) {
    const low = spin.reduce((a, x) => (x.r! < a.r! ? x : a));
    out.push(`${verdict(low.r! >= TARGET.spinRatio)} exact, 1 thread >= ${TARGET.spinRatio}x SPIN states/s on every configuration: lowest ${shown(low.r!, TARGET.spinRatio, 2)} (${name(low.c)})`);
  }
  const exact = configs.map((c) => findRow(rows, c, 'tlbcheck', 'exact'));
  if (exact.length && exact.every((r) => r?.ok && r.bytesPerState !== undefined)) {
    const high = exact.reduce((a, r) => (r!.bytesPerState! > a!.bytesPerState! ? r : a))!;
    out.push(`${verdict(high.bytesPerState! <= TARGET.bytesPerState)} exact, 1 thread <= ${TARGET.bytesPerState} bytes/state: highest ${shown(high.bytesPerState!, TARGET.bytesPerState, 1)} (${name(high.config)})`);
  }
  const sym = rows.filter((r) => r.tool === 'tlbcheck' && r.mode.startsWith('sym'));
  if (sym.length) out.push(`${verdict(sym.every((r) => r.ok))} symmetry counts equal the orbit column: ${sym.filter((r) => r.ok).length} of ${sym.length} runs`);
  if (pairRatios.length) {
    const m = median(pairRatios);
    // The share of what two independent processes got: the engine's part of any shortfall.
    const ceiling = ceilings.length ? `; the machine's 2-core ceiling ${median(ceilings).toFixed(2)} (${Math.round((100 * m) / median(ceilings))} % of it)` : '';
    out.push(`${verdict(m >= TARGET.speedUp)} 2 workers >= ${TARGET.speedUp}x 1 thread (exact, ${name(largest)}): median ${shown(m, TARGET.speedUp, 2)} of ${pairRatios.length} pairs${ceiling}`);
  }
  return out;
}
