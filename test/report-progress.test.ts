import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';

// Big enough to run for the whole time limit: the run ends "incomplete" (exit 3).
const BIG = ['models/bench/shootdown.ts', '--set', 'N=4', '--set', 'P=2', '--set', 'K=2', '--set', 'VARIANT=async', '--time-limit', '1.2'];

async function run(args: string[], isTTY: boolean) {
  const out: string[] = [];
  const err: { t: number; s: string }[] = [];
  const t0 = performance.now();
  const code = await main(['node', 'tlbcheck', ...args], { out: (s) => out.push(s), err: (s) => err.push({ t: performance.now() - t0, s }), isTTY });
  return { code, out: out.join(''), err, ms: performance.now() - t0 };
}

describe('progress line', () => {
  it('on a TTY: a live line with states, states/s, depth, queue and its growth, process RSS against the memory limit, elapsed — at most 10 updates a second, cleared at the end', async () => {
    const r = await run(BIG, true);
    expect(r.code).toBe(3);
    const lines = r.err.filter((e) => /states/.test(e.s));
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.length).toBeLessThanOrEqual(Math.ceil((r.ms / 1000) * 10) + 1);
    // throttled by the explorer to one update per 100 ms (a GC pause between its clock read and the write may shift one)
    const span = lines.at(-1)!.t - lines[0]!.t;
    expect(span / (lines.length - 1)).toBeGreaterThanOrEqual(90);
    expect(lines[0]!.s).toMatch(/^\r {2}[\d,]+ states {2}[\d,]+\/s {2}depth \d+ {2}queue [\d,]+ \([+−][\d,]+\/s\) {2}RSS \d+\/\d+ MiB {2}\d+\.\d s/);
    expect(r.err.at(-1)!.s).toMatch(/^\r +\r$/); // the line is wiped before the result is printed
    expect(r.out).not.toContain('\r');
    expect(r.out).toContain('verdict: incomplete — stopped by time-limit');
  });

  it('nothing of it with --quiet or --json, even on a TTY', async () => {
    for (const flag of ['--quiet', '--json']) {
      const r = await run([...BIG, flag], true);
      expect(r.code).toBe(3);
      expect(r.err).toEqual([]);
    }
  });

  it('nothing of it when stdout is not a TTY; --json stdout is exactly one JSON document', () => {
    const p = spawnSync('node', ['bin/tlbcheck.js', ...BIG], { encoding: 'utf8' });
    expect(p.status).toBe(3);
    expect(p.stderr).toBe('');
    expect(p.stdout).not.toContain('\r');
    const j = spawnSync('node', ['bin/tlbcheck.js', ...BIG, '--json'], { encoding: 'utf8' });
    expect(j.status).toBe(3);
    expect(j.stderr).toBe('');
    expect(j.stdout.trim().split('\n')).toHaveLength(1);
    const doc = JSON.parse(j.stdout);
    expect(doc).toMatchObject({ version: 1, verdict: 'incomplete', limit: 'time-limit' });
  });

  it('--json carries the coverage and vacuity warnings', () => {
    const j = spawnSync('node', ['bin/tlbcheck.js', 'test/fixtures/counter.ts', '--set', 'MAX=2', '--json'], { encoding: 'utf8' });
    expect(j.status).toBe(0);
    expect(JSON.parse(j.stdout).warnings).toEqual([]);
    const k = spawnSync('node', ['bin/tlbcheck.js', 'test/fixtures/counter.ts', '--set', 'MAX=2', '--max-states', '2', '--json'], { encoding: 'utf8' });
    expect(JSON.parse(k.stdout)).toHaveProperty('warnings');
  });
});
