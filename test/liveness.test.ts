/**
 * Liveness under fairness (--liveness): known answers on the classics,
 * lassos that check on their own and replay, a brute-force oracle on random
 * models, and the command's output, gate and errors.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { main } from '../src/cli.js';
import { check } from '../src/engine/check.js';
import { instantiate, ModelError } from '../src/engine/compile.js';
import { checkLiveness } from '../src/engine/check-liveness.js';
import { lassoFault } from '../src/engine/lasso.js';
import asyncModel from '../models/async.ts';
import pti from '../models/pti-deferred.ts';
import { defineModel, int, machine, type Fairness } from '../src/index.js';
import { traceDoc } from '../src/report/json.js';
import { replayTrace } from '../src/replay.js';
import mutex from './fixtures/mutex.ts';
import ring from './fixtures/ring.ts';
import { validate } from './report-schema.js';

const schema = JSON.parse(readFileSync('schema/trace.schema.json', 'utf8')) as Record<string, unknown>;
const tmp = mkdtempSync(join(tmpdir(), 'tlbcheck-liveness-'));
/** The CLI in this process (main(), as bin/tlbcheck.js calls it): stdout, stderr and the exit status. */
async function cli(...a: string[]) {
  let stdout = '';
  let stderr = '';
  const status = await main(['node', 'tlbcheck', ...a], { out: (x) => void (stdout += x), err: (x) => void (stderr += x), isTTY: false });
  return { status, stdout, stderr };
}

describe('known answers', () => {
  const rows: [string, typeof mutex | typeof ring, Record<string, string | number | boolean>, string[]][] = [
    ['mutex, no fairness: a process may stop', mutex, { FAIR: 'none' }, ['enters-critical(0)', 'enters-critical(1)']],
    ['mutex, weak fairness: the others starve a trying process', mutex, { FAIR: 'weak' }, ['enters-critical(0)', 'enters-critical(1)']],
    ['mutex, acquire strongly fair', mutex, { FAIR: 'strong' }, []],
    ['mutex N=3, acquire strongly fair', mutex, { FAIR: 'strong', N: 3 }, []],
    ['mutex N=3, weak fairness', mutex, { FAIR: 'weak', N: 3 }, ['enters-critical(0)', 'enters-critical(1)', 'enters-critical(2)']],
    ['ring, pass weakly fair', ring, {}, []],
    ['ring, no fairness: CPU 0 keeps the token', ring, { FAIR: false }, ['token-reaches(0)', 'token-reaches(1)', 'token-reaches(2)', 'first-pass']],
    ['ring with the starving bug', ring, { STARVE: true }, ['token-reaches(0)']],
  ];
  it.each(rows)('%s', (_name, def, params, failing) => {
    const r = check(def, params, { liveness: true, all: true });
    expect(r.violations.map((v) => v.invariant)).toEqual(failing);
    expect(r.verdict).toBe(failing.length ? 'violated' : 'holds');
    expect(r.liveness?.checked.length).toBe(def === mutex ? Number(params.N ?? 2) : 4);
    const m = instantiate(def, params);
    for (const v of r.violations) {
      expect(v.kind).toBe('liveness');
      // The lasso on its own (replayed by the model's guards and effects): closes, fair, never meets the goal.
      const ids = v.trace.slice(1).map((st) => m.instances.find((i) => i.action === st.action && i.args.join() === st.args.join())!.id);
      expect(lassoFault(m, v.invariant, ids, v.loopStart!)).toBeUndefined();
      // Cut its last step: the loop no longer closes.
      if (ids.length > v.loopStart!) expect(lassoFault(m, v.invariant, ids.slice(0, -1), v.loopStart!)).toMatch(/does not close|enabled/);
    }
  });

  it('a lasso is a trace document (schema, loopStart) that replay reproduces, and a changed model does not', () => {
    const r = check(ring, { STARVE: true }, { liveness: true });
    const doc = traceDoc(instantiate(ring, { STARVE: true }), r.violations[0]!, { modelFile: 'ring.ts' });
    expect(validate(schema, doc)).toEqual([]);
    expect(doc.loopStart).toBe(r.violations[0]!.loopStart);
    const json = JSON.parse(JSON.stringify(doc));
    expect(replayTrace(ring, json).report).toMatchObject({ kind: 'liveness', validPath: true, stillViolates: true, reproduces: true, lassoFault: null });
    // The same steps against the fixed ring: CPU 2 passes to 0, so pass(2) leads elsewhere and the loop does not close.
    const fixed = replayTrace(ring, { ...json, params: { ...json.params, STARVE: false } }).report;
    expect(fixed.reproduces).toBe(false);
  });
});

/**
 * Random models: one int x in 0..S-1, K actions each a partial function on
 * x, with random fairness, and the property x = 0 ~> x = S-1. The oracle
 * enumerates every lasso of at most L steps and checks each with
 * lassoFault: if one shows the failure, the checker must say violated; if
 * the checker says violated, its lasso checks (check-liveness.ts asserts it
 * too). With S ≤ 4 and K ≤ 3, a fair lasso, if any, has a short one.
 */
describe('random models against a brute-force search for lassos', () => {
  const S = 4;
  const L = 7;
  it('agree', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(fc.array(fc.integer({ min: -1, max: S - 1 }), { minLength: S, maxLength: S }), { minLength: 3, maxLength: 3 }),
        fc.array(fc.constantFrom<Fairness | 'none'>('none', 'weak', 'strong'), { minLength: 3, maxLength: 3 }),
        (K, table, fair) => {
          const def = defineModel({
            name: 'random',
            description: 'random partial functions on x',
            params: {},
            build: () =>
              machine(
                { x: int(0, S - 1) },
                {
                  actions: Object.fromEntries(
                    table.slice(0, K).map((t, k) => [`a${k}`, { guard: (s: { x: number }) => t[s.x]! >= 0, effect: (s: { x: number }) => void (s.x = t[s.x]!) }]),
                  ),
                  liveness: { reach: { from: (s) => s.x === 0, to: (s) => s.x === S - 1 } },
                  fairness: Object.fromEntries(fair.slice(0, K).flatMap((f, k) => (f === 'none' ? [] : [[`a${k}`, f]]))),
                },
              ),
          });
          const m = instantiate(def, {});
          const r = check(def, {}, { liveness: true, noDeadlock: true });
          let brute = false;
          const walk = (ids: number[]) => {
            if (brute) return;
            for (let ls = 0; ls <= ids.length && !brute; ls++) if (lassoFault(m, 'reach', ids, ls) === undefined) brute = true;
            if (ids.length < L) for (let k = 0; k < K && !brute; k++) walk([...ids, k]);
          };
          walk([]);
          expect(r.verdict).toBe(brute ? 'violated' : 'holds');
          // Looking for lassos on each part of the graph as it is built (from one state on) changes no verdict.
          expect(checkLiveness(m, { prefixFirst: 1 }).violations.length > 0).toBe(brute);
        },
      ),
      { numRuns: 150, seed: 20261207 },
    );
  });
});

describe('lassos on the graph as it is built', () => {
  it('known answers: the same verdicts when each part of the graph is looked at (from one state on)', () => {
    for (const [def, params] of [[mutex, { FAIR: 'weak', N: 3 }], [mutex, { FAIR: 'strong', N: 3 }], [ring, {}], [ring, { FAIR: false }], [ring, { STARVE: true }]] as const) {
      const m = instantiate(def, params);
      const whole = checkLiveness(m, { prefixFirst: Infinity });
      const parts = checkLiveness(m, { prefixFirst: 1 });
      expect(parts.violations.map((v) => v.invariant)).toEqual(whole.violations.map((v) => v.invariant));
      expect(whole.early).toBeUndefined();
      // Stopped early only when every property had a lasso; otherwise the whole graph was built.
      if (parts.early) expect(parts.violations.length).toBe(parts.checked.length);
      else expect(parts.states).toBe(whole.states);
    }
  });

  it('pti-deferred waitIrqsOff: no deadlock an NMI could cause (the handler returns although the flush it interrupted waits)', () => {
    // Regression: nmi_exit used to wait for the interrupted CPU's flush, so two waiting CPUs each in an NMI were a
    // deadlock at depth 6 that no hardware has. 8 levels (11,910 states) cover it.
    const r = check(pti, { N: 2, OPS: 2, waitIrqsOff: true }, { maxDepth: 8, all: true });
    expect(r.states).toBe(11_910);
    expect(r.violations).toEqual([]);
  });

  it('pti-deferred waitIrqsOff (2.9 M states): both flushes never return, found on the first few thousand; the loop is two NMI steps', () => {
    const lv = checkLiveness(instantiate(pti, { N: 2, OPS: 2, waitIrqsOff: true }));
    expect(lv.early).toBe(true);
    expect(lv.limit).toBeUndefined();
    expect(lv.states).toBeLessThan(20_000);
    expect(lv.violations.map((v) => v.invariant)).toEqual(['flush-returns(0)', 'flush-returns(1)']);
    for (const v of lv.violations) {
      const loop = v.trace.slice(v.loopStart! + 1);
      expect(loop.map((st) => st.action)).toEqual(['nmi_entry', 'nmi_exit']);
      // Both CPUs wait in flush_tlb_mm_range with IPIs outstanding and IRQs off.
      expect(v.trace.filter((st) => /^flush_tlb_mm_range.*IPI →/.test(st.description)).map((st) => st.cpu).sort()).toEqual([0, 1]);
    }
  });

  it('--store fingerprint: the same graph (states, transitions) and the same lassos as the exact one', () => {
    for (const params of [{ nmiUaccess: false, freeTables: false, N: 3, flushNeedsNextIpi: false }, { nmiUaccess: false, freeTables: false, N: 3, flushNeedsNextIpi: true }]) {
      const m = instantiate(asyncModel, params);
      // prefixFirst: Infinity: the whole graph, so its queue of unexpanded states is compacted many times.
      const exact = checkLiveness(m, { prefixFirst: Infinity });
      const fp = checkLiveness(m, { prefixFirst: Infinity, fingerprint: true });
      expect(exact.states).toBeGreaterThan(5000);
      expect([fp.states, fp.transitions]).toEqual([exact.states, exact.transitions]);
      expect(fp.violations).toEqual(exact.violations);
    }
    const r = check(ring, { STARVE: true }, { liveness: true, store: 'fingerprint' });
    expect(r.violations.map((v) => v.invariant)).toEqual(['token-reaches(0)']);
    expect(r.liveness?.fingerprint).toBe(true);
  });

  it('no property selected: nothing is "violated early"; the graph is built whole', () => {
    const m = instantiate(ring, { STARVE: true });
    const none = checkLiveness(m, { properties: ['no-such-property'], prefixFirst: 1 });
    expect([none.checked, none.violations, none.early]).toEqual([[], [], undefined]);
    expect(none.states).toBe(checkLiveness(m).states);
  });

  it('a limit: the lassos found before it are verdicts, the other properties are not decided', () => {
    const m = instantiate(ring, { STARVE: true });
    const full = checkLiveness(m);
    const cut = checkLiveness(m, { maxStates: 2 });
    expect(full.violations.map((v) => v.invariant)).toEqual(['token-reaches(0)']);
    expect(cut.limit).toBe('max-states');
    expect(cut.violations.length).toBeLessThan(cut.checked.length);
  });
});

describe('the command', () => {
  it('--liveness: lassos in the race diagram, a liveness line, exit 1; holds exits 0 and says so', async () => {
    const bad = await cli('test/fixtures/mutex.ts', '--set', 'FAIR=weak', '--liveness');
    expect(bad.status, bad.stderr).toBe(1);
    expect(bad.stdout).toContain('enters-critical(0) violated: 1 step, then a loop of 3 steps repeated forever:');
    expect(bad.stdout).toMatch(/┄┄┄ loop: steps 2–4 repeat forever ┄┄┄[\s\S]*┄┄┄ back to the state after step 1 ┄┄┄/);
    expect(bad.stdout).toContain('liveness: 2 properties on the full graph of 8 states, 14 transitions');
    const good = await cli('test/fixtures/mutex.ts', '--liveness');
    expect(good.status, good.stderr).toBe(0);
    expect(good.stdout).toContain('verdict: holds — exclusive holds in every reachable state, no deadlock; enters-critical(0), enters-critical(1) hold on every fair behaviour');
    // Without --liveness the properties are named as not checked.
    expect((await cli('test/fixtures/mutex.ts', '--set', 'FAIR=weak')).stdout).toContain('note: liveness properties not checked (--liveness checks them): enters-critical');
  });

  it('--json has loopStart and the liveness summary; --trace-out replays', async () => {
    const out = join(tmp, 'ring.json');
    const r = await cli('test/fixtures/ring.ts', '--set', 'STARVE=1', '--liveness', '--json', '--trace-out', out);
    expect(r.status, r.stderr).toBe(1);
    const j = JSON.parse(r.stdout) as { liveness: { checked: string[] }; violations: { kind: string; loopStart: number }[] };
    expect(j.liveness.checked).toEqual(['token-reaches(0)', 'token-reaches(1)', 'token-reaches(2)', 'first-pass']);
    expect(j.violations[0]).toMatchObject({ kind: 'liveness', loopStart: 1 });
    const rep = await cli('replay', out, 'test/fixtures/ring.ts');
    expect(rep.status, rep.stdout + rep.stderr).toBe(0);
    expect(rep.stdout).toContain('✓ still violates token-reaches(0): the loop closes, is fair, and never meets the goal');
  });

  it('a limit that stops the graph leaves liveness undecided: incomplete, exit 3, never holds', async () => {
    const r = await cli('test/fixtures/mutex.ts', '--set', 'N=3', '--liveness', '--max-states', '10');
    expect(r.status, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/^liveness: 3 properties not decided: the state graph stopped by max-states after \d+ states/m);
    expect(r.stdout).toMatch(/^verdict: incomplete/m);
  });

  it('ci runs rows with options: { liveness: true } and checks their names', async () => {
    const r = await cli('ci', 'test/fixtures/mutex.ts');
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain("ci: ok — 2 expectations met");
    expect(r.stdout).toMatch(/ok  mutex  FAIR=weak \[liveness=true\] +violated \(enters-critical\(0\)\)/);
  });

  it('a bad fairness or liveness declaration is a one-line model error', () => {
    const def = (body: Record<string, unknown>) =>
      defineModel({ name: 'bad', description: '', params: {}, build: () => ({ ...machine({ x: int(0, 1) }, { actions: { go: { effect: (s) => void (s.x = 1 - s.x) } } }), ...body }) });
    expect(() => instantiate(def({ fairness: { stop: 'weak' } }), {})).toThrow(new ModelError('model bad: fairness names stop, which is not an action (actions: go)'));
    expect(() => instantiate(def({ fairness: { go: 'always' } }), {})).toThrow(/fairness of go is "always", not 'weak' or 'strong'/);
    expect(() => instantiate(def({ liveness: { p: { from: () => true } } }), {})).toThrow(/liveness property p has no to\(\) function/);
  });
});
