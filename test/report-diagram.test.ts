import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import shootdownDef from '../models/bench/shootdown.js';
import type { ModelDef } from '../src/engine/model.js';
import { check } from '../src/engine/check.js';
import { instantiate } from '../src/engine/compile.js';
import { lanesOf, raceDiagram, textWidth, wrap } from '../src/report/diagram.js';
import { exhibits, instanceIdsOf, runPath, sliceViolation, stepsOf } from '../src/report/slice.js';

const shootdown = shootdownDef as unknown as ModelDef;
const ASYNC_NMI = { N: 2, P: 1, K: 1, VARIANT: 'async', NMI: 1 } as const;

function violationOf(params: Record<string, number | string>) {
  const r = check(shootdown, params);
  expect(r.verdict).toBe('violated');
  return r.violations[0]!;
}

describe('race diagram', () => {
  it('draws the async counterexample as CPU columns, time going down, ending in the invariant and why', () => {
    const d = raceDiagram(violationOf(ASYNC_NMI));
    const lines = d.split('\n');
    expect(lines[0]).toBe('no-stale-access violated after 4 steps:');
    expect(lines[1]).toMatch(/^\s+CPU0\s+│ CPU1$/);
    // CPU0 fills its TLB, CPU1 remaps and IPIs, CPU0 acks, CPU1's flush returns.
    const rows = lines.filter((l) => /^\s+\d+ /.test(l));
    expect(rows).toHaveLength(4);
    const col1 = lines[1]!.indexOf('CPU1');
    expect(rows[0]!.indexOf('walk va0')).toBeLessThan(col1);
    expect(rows[1]!.indexOf('PTE va0')).toBe(col1);
    expect(rows[2]!.indexOf('csd unlock')).toBeLessThan(col1);
    expect(rows[3]!.indexOf('flush of va0 returns')).toBe(col1);
    expect(lines.at(-2)).toMatch(/^✗ no-stale-access: CPU0 can still use va0 → v0/);
    expect(d).not.toMatch(/tlb\[|pending\[/); // phrases, not state dumps
  });

  it('keeps every line within 100 columns, also with six CPUs', () => {
    for (const N of [2, 3, 6]) {
      const v = violationOf({ ...ASYNC_NMI, N });
      const d = raceDiagram(v);
      for (const l of d.split('\n')) expect(textWidth(l), l).toBeLessThanOrEqual(100);
      expect(lanesOf(v.trace).map((l) => l.label)).toEqual(Array.from({ length: N }, (_, i) => `CPU${i}`));
      // every step's phrase is there, whole (modulo wrapping)
      const flat = d.replace(/[\s│─┼]+/g, ' ');
      for (const st of v.trace.slice(1)) for (const w of st.description.split(' ')) expect(flat).toContain(w);
    }
  });

  it('honours a narrower width', () => {
    const d = raceDiagram(violationOf({ ...ASYNC_NMI, N: 4 }), { width: 60 });
    for (const l of d.split('\n')) expect(textWidth(l)).toBeLessThanOrEqual(60);
  });

  it('puts steps that name no CPU in a "—" column', () => {
    const st = (action: string, cpu: number | undefined, description: string) => ({ action, args: [], cpu, description, state: {} });
    const d = raceDiagram({
      invariant: 'x',
      kind: 'invariant',
      reason: 'because',
      trace: [st('init', undefined, 'initial state'), st('a', 1, 'on cpu one'), st('tick', undefined, 'global tick')],
    });
    const lines = d.split('\n');
    expect(lines[1]).toMatch(/CPU1\s+│ —$/);
    expect(lines.find((l) => l.includes('global tick'))!.indexOf('global tick')).toBe(lines[1]!.indexOf('—'));
  });

  it('wraps words and cuts overlong ones', () => {
    expect(wrap('aa bb cc', 5)).toEqual(['aa bb', 'cc']);
    expect(wrap('abcdefgh', 3)).toEqual(['abc', 'def', 'gh']);
  });
});

describe('--slice', () => {
  it('drops steps the violation does not depend on, and the slice is still a valid violating path', () => {
    const params = { N: 3, P: 2, K: 2, VARIANT: 'async', NMI: 1 };
    const model = instantiate(shootdown, params);
    const v = violationOf(params);
    const ids = instanceIdsOf(model, v.trace);
    // Pad the shortest trace with unrelated work: CPU2 caches va1 twice around, CPU1 caches va1.
    const id = (action: string, ...args: number[]) => model.instances.find((i) => i.action === action && i.args.join() === args.join())!.id;
    const padded = [id('walk', 2, 1), ids[0]!, id('walk', 1, 1), ...ids.slice(1, 3), id('evict', 2, 1), ...ids.slice(3)];
    const long = { ...v, trace: stepsOf(model, padded) };
    expect(exhibits(model, runPath(model, padded)!, v)).toBe(true);
    const sl = sliceViolation(model, long);
    expect(sl.dropped).toEqual([1, 3, 6]);
    expect(sl.kept).toEqual([2, 4, 5, 7, 8]);
    expect(sl.violation.trace.map((s) => s.action)).toEqual(['init', 'walk', 'start', 'ack', 'ack', 'finish']);
    const d = raceDiagram(sl.violation, { stepNumbers: sl.kept });
    expect(d.split('\n').filter((l) => /^\s+\d+ /.test(l)).map((l) => Number(l.trim().split(' ')[0]))).toEqual([2, 4, 5, 7, 8]);
    expect(exhibits(model, runPath(model, instanceIdsOf(model, sl.violation.trace))!, v)).toBe(true);
  });
});

describe('CLI text output', () => {
  const cli = (...args: string[]) => spawnSync('node', ['bin/tlbcheck.js', ...args], { cwd: process.cwd(), encoding: 'utf8' });
  const base = ['models/bench/shootdown.ts', '--set', 'VARIANT=async', '--set', 'NMI=1'];

  it('prints the race diagram by default, the slice with --slice, the step list with --steps', () => {
    const d = cli(...base);
    expect(d.status).toBe(1);
    expect(d.stdout).toMatch(/CPU0\s+│ CPU1/);
    expect(d.stdout).toContain('✗ no-stale-access:');
    const s = cli(...base, '--slice');
    expect(s.status).toBe(1);
    expect(s.stdout).toContain('no-stale-access violated: slice of 4 of 4 steps (every step is needed):');
    const l = cli(...base, '--steps');
    expect(l.stdout).toContain('1. CPU0 walk(0,0)');
    expect(l.stdout).toContain('[tlb[0][0]=0]');
    for (const out of [d.stdout, s.stdout]) for (const line of out.split('\n')) expect(textWidth(line)).toBeLessThanOrEqual(100);
  });
});
