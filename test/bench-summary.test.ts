/**
 * The bench's arithmetic (bench/summary.ts) on made-up rows: medians over
 * repeated runs, and each of issue 6's targets turning "MISSED" when its
 * number is on the wrong side. Also the bench's one-line argument errors.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Config, type Row, issueTargets, median, medianRun } from '../bench/summary.js';

const root = join(import.meta.dirname, '..');
const A: Config = { N: 5, P: 2, K: 1, VARIANT: 'sync', states: 1000, transitions: 5000, orbits: 10 };
const B: Config = { N: 4, P: 2, K: 2, VARIANT: 'async', states: 2000, transitions: 9000, orbits: 20 };

function row(config: Config, tool: string, mode: string, seconds: number, extra: Partial<Row> = {}): Row {
  const states = mode.startsWith('sym') ? config.orbits : config.states;
  return { config, tool, mode, states, seconds, bytesPerState: tool === 'tlbcheck' ? 30 : undefined, rssMb: 100, ok: true, note: 'match spec', ...extra };
}

/** Exact and SPIN rows for both configurations; exact/SPIN = spinSeconds / exactSeconds. */
function rows(exactA: number, exactB: number, more: Row[] = []): Row[] {
  return [row(A, 'tlbcheck', 'exact', exactA), row(A, 'SPIN', 'dfs, full states', 3), row(B, 'tlbcheck', 'exact', exactB), row(B, 'SPIN', 'dfs, full states', 3), ...more];
}

describe('medians', () => {
  it('median of odd and even counts', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('medianRun reports the run of median time and lists every time in run order', () => {
    const m = medianRun([row(A, 'tlbcheck', 'exact', 0.9), row(A, 'tlbcheck', 'exact', 0.6), row(A, 'tlbcheck', 'exact', 0.7)]);
    expect(m.seconds).toBe(0.7);
    expect(m.note).toBe('match spec; median of 0.90, 0.60, 0.70 s');
    // Even count: the slower of the middle two.
    expect(medianRun([row(A, 'SPIN', 'x', 2), row(A, 'SPIN', 'x', 1)]).seconds).toBe(2);
  });

  it('a run with wrong counts is reported instead of the median', () => {
    const bad = row(A, 'tlbcheck', 'exact', 5, { ok: false, note: 'MISMATCH' });
    expect(medianRun([row(A, 'tlbcheck', 'exact', 0.6), bad, row(A, 'tlbcheck', 'exact', 0.7)])).toBe(bad);
  });
});

describe('issue targets', () => {
  it('all met', () => {
    const t = issueTargets(rows(1, 1, [row(A, 'tlbcheck', 'sym cpu', 1)]), [A, B], [1.9, 1.7, 1.85], [1.95, 1.9, 2], B);
    expect(t).toEqual([
      'met    exact, 1 thread >= 2.5x SPIN states/s on every configuration: lowest 3.00 (N=5 P=2 K=1 sync)',
      'met    exact, 1 thread <= 32 bytes/state: highest 30.0 (N=5 P=2 K=1 sync)',
      'met    symmetry counts equal the orbit column: 1 of 1 runs',
      "met    2 workers >= 1.8x 1 thread (exact, N=4 P=2 K=2 async): median 1.85 of 3 pairs; the machine's 2-core ceiling 1.95 (95 % of it)",
    ]);
  });

  it('the lowest SPIN ratio decides, and under 2.5 is missed', () => {
    // B: twice the states in 1.25 s against SPIN's 3 s = 2.4x.
    expect(issueTargets(rows(1, 1.25), [A, B], [], [], B)[0]).toBe('MISSED exact, 1 thread >= 2.5x SPIN states/s on every configuration: lowest 2.40 (N=4 P=2 K=2 async)');
  });

  it('bytes/state over 32, a symmetry count mismatch and a low pair median are missed', () => {
    const r = rows(1, 1, [row(A, 'tlbcheck', 'sym cpu', 1), row(B, 'tlbcheck', 'sym cpu, 2 workers', 1, { ok: false })]);
    r[2] = { ...r[2]!, bytesPerState: 32.4 };
    const t = issueTargets(r, [A, B], [1.79, 1.95, 1.7], [], B);
    expect(t.slice(1)).toEqual([
      'MISSED exact, 1 thread <= 32 bytes/state: highest 32.4 (N=4 P=2 K=2 async)',
      'MISSED symmetry counts equal the orbit column: 1 of 2 runs',
      'MISSED 2 workers >= 1.8x 1 thread (exact, N=4 P=2 K=2 async): median 1.79 of 3 pairs',
    ]);
  });

  it('a number that would round onto its limit shows one more decimal', () => {
    // 1.7966 would print as 1.80 and read as met.
    const t = issueTargets([], [A], [1.65, 1.7966, 2.19], [2, 2, 2], A);
    expect(t).toEqual(["MISSED 2 workers >= 1.8x 1 thread (exact, N=5 P=2 K=1 sync): median 1.797 of 3 pairs; the machine's 2-core ceiling 2.00 (90 % of it)"]);
  });

  it('a target not fully measured is not listed', () => {
    // No SPIN row for B, a count mismatch in A's exact run, no pairs.
    const r = [row(A, 'tlbcheck', 'exact', 1, { ok: false }), row(A, 'SPIN', 'dfs, full states', 3), row(B, 'tlbcheck', 'exact', 1)];
    expect(issueTargets(r, [A, B], [], [], B)).toEqual([]);
  });
});

describe('bench arguments', () => {
  const bench = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...args], { cwd: root, encoding: 'utf8' });

  it.each([
    [['--bogus'], 'unknown argument "--bogus"'],
    [['--repeat', '0'], '--repeat "0" is not a count >= 1'],
    [['--pairs'], '--pairs needs a value'],
    [['9,9,9,sync'], '9,9,9,sync is not a benchmark configuration'],
    [['--modes', 'nope'], '--modes "nope" names none of'],
  ])('%j: one line, exit 2, nothing run', (args, text) => {
    const r = bench(...args);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`bench: ${text}`);
  });
});

describe('the model bench rows (bench/models.ts)', () => {
  it('cover every shipped model with a row that must hold and one that must be violated, each with parameters the model accepts', async () => {
    const { MODEL_ROWS } = await import('../bench/models.js');
    const { SHIPPED_MODELS } = await import('./helpers/shipped.js');
    const { instantiate } = await import('../src/index.js');
    for (const [name, def] of SHIPPED_MODELS) {
      if (name === 'shootdown') continue; // the bench model: every ratio is taken against it
      const rows = MODEL_ROWS.filter((r) => r.model === name);
      expect(rows.map((r) => r.verdict), name).toContain('holds');
      expect(rows.map((r) => r.verdict), name).toContain('violated');
      for (const r of rows) expect(() => instantiate(def, r.params as Record<string, never>), `${name} ${JSON.stringify(r.params)}`).not.toThrow();
    }
  });
});
