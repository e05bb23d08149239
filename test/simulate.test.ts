/**
 * `tlbcheck simulate` (src/simulate.ts): seeded random walks over the
 * packed successor relation, shrinking, and the command's output.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import asyncModel from '../models/async.ts';
import syncModel from '../models/sync.ts';
import { instantiate, ModelError, type CompiledModel } from '../src/engine/compile.js';
import type { ModelDef, ParamValueAny } from '../src/engine/model.js';
import { array, bool, defineModel, int, machine } from '../src/index.js';
import { UsageError } from '../src/load.js';
import { raceDiagram } from '../src/report/diagram.js';
import { replayTrace, runReplay } from '../src/replay.js';
import { runSimulate, shrinkPath, simulate, violationOf, walkRandom, type SimulateResult } from '../src/simulate.js';
import { validate } from './report-schema.js';
import { foundAtN6, N6_TOGGLES, replays, SHRINK_ROWS, shrunkWithinTwiceShortest } from './helpers/simulate-rows.js';

const schema = JSON.parse(readFileSync('schema/trace.schema.json', 'utf8')) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), 'tlbcheck-simulate-'));
const model = (def: unknown, params: Record<string, ParamValueAny> = {}): CompiledModel => instantiate(def as ModelDef, params);


function capture() {
  const o = { out: '', err: '' };
  return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s), isTTY: false } };
}

describe('walks', () => {
  it('walkRandom: a function of (seed, walk) alone', () => {
    const take = (g: () => number) => Array.from({ length: 8 }, g);
    expect(take(walkRandom(7, 3))).toEqual(take(walkRandom(7, 3)));
    expect(take(walkRandom(7, 3))).not.toEqual(take(walkRandom(7, 4)));
    expect(take(walkRandom(7, 3))).not.toEqual(take(walkRandom(8, 3)));
    for (const x of take(walkRandom(0, 0))) expect(Number.isInteger(x) && x >= 0 && x < 2 ** 32).toBe(true);
  });

  it('are deterministic for a seed: the same walks, the same violation, the same trace', () => {
    const a = simulate(model(asyncModel, { N: 3 }), { seed: 11, steps: 100, runs: 3000 });
    const b = simulate(model(asyncModel, { N: 3 }), { seed: 11, steps: 100, runs: 3000 });
    expect(a.verdict).toBe('violated');
    for (const k of ['walks', 'steps', 'distinctStates', 'endedWalks', 'found'] as const)
      if (k === 'found') expect({ ...b.found, shrinkMs: 0 }).toEqual({ ...a.found, shrinkMs: 0 });
      else expect(b[k]).toEqual(a[k]);
    expect(b.violations).toEqual(a.violations);
    // Another seed walks elsewhere.
    const c = simulate(model(asyncModel, { N: 3 }), { seed: 12, steps: 100, runs: 3000 });
    expect([c.found?.walk, c.steps]).not.toEqual([a.found?.walk, a.steps]);
  });

  it('the first violating walk does not depend on how the run is bounded', () => {
    const byRuns = simulate(model(asyncModel), { seed: 3, steps: 100, runs: 5000 });
    const byTime = simulate(model(asyncModel), { seed: 3, steps: 100, timeLimitMs: 60_000 });
    expect(byRuns.found?.walk).toBeDefined();
    expect(byTime.found?.walk).toBe(byRuns.found?.walk);
    expect(byTime.found?.walkSteps).toBe(byRuns.found?.walkSteps);
    expect(byTime.violations).toEqual(byRuns.violations);
  });

  it('a holding model: no violation, verdict incomplete, the counts add up', () => {
    const r = simulate(model(syncModel, { N: 3 }), { seed: 1, steps: 50, runs: 300 });
    expect(r).toMatchObject({ verdict: 'incomplete', limit: 'runs', walks: 300, violations: [], found: undefined });
    expect(r.steps).toBeGreaterThan(300);
    expect(r.steps).toBeLessThanOrEqual(300 * 50);
    expect(r.distinctStates).toBeGreaterThan(10);
    expect(r.distinctSaturated).toBe(false);
    expect(r.endedWalks).toBeGreaterThan(0);
  });

  it('the distinct-state count is bounded: a full fingerprint set says so', () => {
    const r = simulate(model(asyncModel, { N: 3, nmiUaccess: false }), { seed: 1, steps: 100, runs: 300, maxDistinct: 1024 });
    expect(r.distinctSaturated).toBe(true);
    expect(r.distinctStates).toBeGreaterThanOrEqual(768);
    expect(r.distinctStates).toBeLessThanOrEqual(1024);
    const full = simulate(model(asyncModel, { N: 3, nmiUaccess: false }), { seed: 1, steps: 100, runs: 300 });
    expect(full.distinctSaturated).toBe(false);
    expect(full.distinctStates).toBeGreaterThan(r.distinctStates);
  });

  it('a deadlock is a state with no successor that is not an end state', () => {
    const m = model(syncModel, { waitIrqsOff: true, P: 2, OPS: 2 });
    const r = simulate(m, { seed: 1, steps: 100, runs: 2000 });
    const v = r.violations[0]!;
    expect(v).toMatchObject({ invariant: 'deadlock', kind: 'deadlock' });
    const last = m.layout.makeView();
    m.layout.fromPlain(v.trace.at(-1)!.state, last);
    expect(m.instances.filter((i) => m.enabled(last, i.id))).toEqual([]);
    expect(m.machine.endState?.(last)).toBe(false);
    // Without deadlock detection the same walks find nothing.
    expect(simulate(m, { seed: 1, steps: 100, runs: 200, noDeadlock: true }).verdict).toBe('incomplete');
  });

  it('--invariant: only the named invariants are checked', () => {
    const m = model(asyncModel, { nmiUaccess: false, freeTables: true });
    const all = simulate(m, { seed: 1, steps: 100, runs: 3000 });
    expect(all.violations[0]?.invariant).toBe('no-freed-table-walk');
    const only = simulate(m, { seed: 1, steps: 100, runs: 300, invariants: ['no-stale-access'] });
    expect(only.invariants).toEqual(['no-stale-access']);
    expect(only.violations).toEqual([]);
    expect(() => simulate(m, { seed: 1, steps: 10, invariants: ['nope'] })).toThrow(ModelError);
  });

  it('bad options are one-line errors', () => {
    const m = model(syncModel);
    expect(() => simulate(m, { seed: -1, steps: 10 })).toThrow(/seed must be an integer/);
    expect(() => simulate(m, { seed: 1, steps: 0 })).toThrow(/steps must be an integer/);
    expect(() => simulate(m, { seed: 1, steps: 10, runs: 0 })).toThrow(/runs must be a positive integer/);
  });
});

describe('shrinking', () => {
  it('the walk as found shrinks to a valid path of the BFS length that still violates the same invariant', () => {
    const m = model(asyncModel);
    const r = simulate(m, { seed: 5, steps: 300, runs: 3000, shrink: false });
    const raw = r.violations[0]!;
    expect(r.found!.steps).toBe(r.found!.walkSteps);
    expect(raw.trace.length - 1).toBe(r.found!.walkSteps);
    const path = raw.trace.slice(1).map((st) => m.instances.find((i) => i.action === st.action && i.args.join() === st.args.join())!.id);
    expect(path.length).toBeGreaterThan(10);
    const target = { kind: 'invariant', name: raw.invariant } as const;
    const sh = shrinkPath(m, path, target);
    expect(sh.loopFree).toBe(r.found!.loopFreeSteps);
    expect(sh.path.length).toBe(7);
    const shrunk = { ...r, violations: [violationOf(m, sh.path, target)] };
    expect(replays(asyncModel, m, shrunk)).toMatchObject({ validPath: true, reproduces: true, steps: 7 });
    // The same as simulate's own shrinking.
    expect(simulate(m, { seed: 5, steps: 300, runs: 3000 }).violations).toEqual(shrunk.violations);
  });

  // x climbs to 4 in four steps; three noise counters and a toggle give a
  // walk plenty to do besides (and loops to make). The shortest violation
  // of x < 4 is exactly 4 steps, whatever the walk did.
  const noisy = defineModel({
    name: 'noisy',
    description: 'a counter to 4 among noise',
    params: { start: { default: 0, min: 0, max: 4, doc: 'initial x' } },
    build: ({ start }) =>
      machine(
        { x: int(0, 4), y: array(3, int(0, 3)), t: bool() },
        {
          init: (s) => void (s.x = start),
          actions: {
            up: { guard: (s) => s.x < 4 && !s.t, effect: (s) => void s.x++ },
            noise: { over: [3], guard: (s, i) => s.y[i]! < 3, effect: (s, i) => void s.y[i]!++ },
            reset: { over: [3], guard: (s, i) => s.y[i]! > 0, effect: (s, i) => void (s.y[i] = 0) },
            toggle: { effect: (s) => void (s.t = !s.t) },
          },
          invariants: { 'x-below-4': { holds: (s) => s.x < 4, explain: (s) => `x = ${s.x}` } },
        },
      ),
  });
  it('a crafted model: a long noisy walk shrinks to exactly the shortest path', () => {
    const m = model(noisy);
    const raw = simulate(m, { seed: 3, steps: 1000, runs: 100, shrink: false });
    expect(raw.found!.walkSteps).toBeGreaterThan(20);
    for (const seed of [1, 2, 3, 4]) {
      const r = simulate(m, { seed, steps: 1000, runs: 100 });
      expect(r.violations[0]!.trace.map((st) => st.action)).toEqual(['init', 'up', 'up', 'up', 'up']);
      expect(r.violations[0]!.reason).toBe('x = 4');
      expect(r.found!.steps).toBe(4);
    }
  });

  it('an initial state that violates: a trace of no steps, one walk', () => {
    const r = simulate(model(noisy, { start: 4 }), { seed: 1, steps: 10, runs: 100 });
    expect(r).toMatchObject({ verdict: 'violated', walks: 1, steps: 0 });
    expect(r.violations[0]!.trace.map((st) => st.action)).toEqual(['init']);
  });

  it('refuses a path that does not violate', () => {
    const m = model(syncModel);
    expect(() => shrinkPath(m, [], { kind: 'invariant', name: 'no-stale-access' })).toThrow(/does not reach a violation of no-stale-access/);
  });

  // A few shipped bug toggles here; test/slow/simulate-sweeps.test.ts runs every one.
  it.each(SHRINK_ROWS.slice(0, 3))('%s %j: the shrunk trace is at most twice the BFS shortest, and replays', (_name, params, def) => shrunkWithinTwiceShortest(params, def));
});

describe('a bug toggle at N=6, where exhaustive search does not finish', () => {
  // The async NMI race here; test/slow/simulate-sweeps.test.ts runs one toggle per shootdown model.
  it.each(N6_TOGGLES.slice(0, 1))('%s %j at N=6: found within 30 s, a valid trace', (_name, params, def, invariant) => foundAtN6(params, def, invariant));
});

describe('runSimulate (the command)', () => {
  it('a violation: race diagram, summary, verdict violated, exit 1; --trace-out replays', async () => {
    const out = join(tmp, 'async.json');
    const { o, io } = capture();
    const code = await runSimulate('models/async.ts', { set: ['N=3'], invariant: [], seed: 4, runs: 3000, traceOut: out }, io);
    expect(code).toBe(1);
    expect(o.err).toBe('');
    const lines = o.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^model async \(N=3 .*\): random walks, seed 4, at most 100 steps each$/);
    expect(o.out).toContain('no-stale-access violated after 8 steps:');
    expect(o.out).toMatch(/found by walk [\d,]+ after [\d,]+ steps; shrunk to 8 /);
    expect(lines.at(-2)).toMatch(/^async: [\d,]+ walks, [\d,]+ steps, [\d.]+ s, [\d,]+ walks\/s, [\d,]+ steps\/s, [\d,]+ distinct states, seed 4$/);
    expect(lines.at(-1)).toBe('verdict: violated — no-stale-access');
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(validate(schema, doc)).toEqual([]);
    const rep = capture();
    expect(await runReplay(out, 'models/async.ts', {}, rep.io)).toBe(0);
    expect(rep.o.out).toContain('replay: reproduces');
  });

  it('prints the race diagram of the shrunk trace, as simulate() returns it', async () => {
    const { o, io } = capture();
    await runSimulate('models/async.ts', { set: [], invariant: [], seed: 4, runs: 3000, quiet: true }, io);
    const r = simulate(model(asyncModel), { seed: 4, steps: 100, runs: 3000 });
    expect(o.out).toContain(`\n${raceDiagram(r.violations[0]!)}\n`);
  });

  it('no violation: "not a proof", exit 3, never 0', async () => {
    const { o, io } = capture();
    const code = await runSimulate('models/sync.ts', { set: ['N=3'], invariant: [], seed: 9, runs: 200, steps: 40 }, io);
    expect(code).toBe(3);
    expect(o.out.trimEnd().split('\n').at(-1)).toBe('verdict: no violation found in 200 walks (not a proof)');
  });

  it('--json: one document; replay takes it like a check result', async () => {
    const { o, io } = capture();
    expect(await runSimulate('models/async.ts', { set: [], invariant: [], seed: 4, runs: 3000, json: true }, io)).toBe(1);
    const doc = JSON.parse(o.out);
    expect(doc).toMatchObject({ version: 1, mode: 'simulate', model: 'async', verdict: 'violated', seed: 4, modelFile: 'models/async.ts' });
    expect(doc.violations).toHaveLength(1);
    expect(doc.violations[0].trace[0]).toMatchObject({ action: 'init', cpu: null });
    const { report } = replayTrace(asyncModel as ModelDef, doc);
    expect(report.reproduces).toBe(true);
    const none = capture();
    expect(await runSimulate('models/sync.ts', { set: [], invariant: [], seed: 4, runs: 20, json: true }, none.io)).toBe(3);
    expect(JSON.parse(none.o.out)).toMatchObject({ verdict: 'incomplete', limit: 'runs', walks: 20, violations: [] });
  });

  it('bad input: one-line errors (exit 2 in the CLI)', async () => {
    const { io } = capture();
    const run = (f: string, flags: Record<string, unknown>) => runSimulate(f, { set: [], invariant: [], runs: 1, ...flags }, io);
    await expect(run('models/nope.ts', {})).rejects.toThrow(UsageError);
    await expect(run('models/sync.ts', { set: ['N=9'] })).rejects.toThrow(/N=9 is out of range 2\.\.6/);
    await expect(run('models/sync.ts', { set: ['X=1'] })).rejects.toThrow(/unknown parameter X/);
    await expect(run('models/sync.ts', { invariant: ['nope'] })).rejects.toThrow(/^models\/sync\.ts: unknown invariant nope/);
    await expect(run('models/sync.ts', { seed: 2 ** 32 })).rejects.toThrow(UsageError);
    await expect(run('models/sync.ts', { steps: 0 })).rejects.toThrow(/--steps must be an integer from 1/);
    await expect(run('models/sync.ts', { timeLimit: 0 })).rejects.toThrow(/--time-limit must be a positive number/);
    writeFileSync(join(tmp, 'plain'), '');
    await expect(run('models/sync.ts', { traceOut: join(tmp, 'plain', 'x.json') })).rejects.toThrow(/^cannot write --trace-out file .*plain\/x\.json: .*not a directory/);
    const errors = await Promise.allSettled([run('models/sync.ts', { set: ['N=9'] }), run('models/sync.ts', { steps: 1.5 }), run('models/nope.ts', {})]);
    for (const e of errors) {
      expect(e.status).toBe('rejected');
      if (e.status === 'rejected') expect((e.reason as Error).message).not.toContain('\n');
    }
  });
});
