import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { diffBaseline, expandModels, expectLine, type CiSummary } from '../src/ci.js';

// Fixture models live under the repo's ignored tmp/ so that they can import ../../src/index.js.
const dir = join('tmp', `ci-test-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync('node', ['bin/tlbcheck.js', ...args], { cwd: process.cwd(), encoding: 'utf8', env: { ...process.env, GITHUB_ACTIONS: '', ...env } });

const shootdownSrc = readFileSync('models/bench/shootdown.ts', 'utf8'); // same depth: its import of ../../src/index.js still resolves
const flipped = join(dir, 'flipped.ts');
writeFileSync(flipped, shootdownSrc.replace("{ params: { VARIANT: 'async', NMI: 1 }, verdict: 'violated', invariant: 'no-stale-access' }", "{ params: { VARIANT: 'async', NMI: 1 }, verdict: 'holds' }"));
const vacuous = join(dir, 'vacuous.ts');
writeFileSync(
  vacuous,
  `import { bool, defineModel, int, machine } from '../../src/index.js';
export default defineModel({
  name: 'vacuous',
  description: 'an invariant whose premise never holds and an action that is never enabled',
  params: {},
  build: () =>
    machine({ n: int(0, 3), armed: bool() }, {
      actions: {
        step: { guard: (s) => s.n < 3, effect: (s) => { s.n++; }, describe: (s) => \`n \${s.n} → \${s.n + 1}\` },
        fire: { guard: (s) => s.armed, effect: (s) => { s.n = 0; } },
      },
      invariants: { 'armed-means-small': { holds: (s) => !s.armed || s.n < 2, premise: (s) => s.armed } },
      endState: () => true,
    }),
  expect: [{ verdict: 'holds' }],
});
`,
);
const broken = join(dir, 'broken.ts');
writeFileSync(
  broken,
  `import { defineModel } from '../../src/index.js';
export default defineModel({ name: 'broken', description: 'build throws', params: {}, build: () => { throw new Error('no such CPU'); }, expect: [{ verdict: 'holds' }] });
`,
);
writeFileSync(join(dir, 'helper.ts'), 'export const notAModel = 1;\n');

describe('tlbcheck ci', () => {
  it('is green when every expectation is met, and writes summary.md, summary.json and traces', () => {
    const out = join(dir, 'green');
    const r = cli(['ci', 'models/bench/shootdown.ts', '--out', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/model\s+parameters\s+expected\s+got\s+states\s+time/);
    expect(r.stdout).toMatch(/ok\s+shootdown\s+VARIANT=async NMI=1\s+violated \(no-stale-access\)\s+violated \(no-stale-access\)\s+30/);
    expect(r.stdout).toContain('ci: ok — 3 expectations met');
    const md = readFileSync(join(out, 'summary.md'), 'utf8');
    expect(md).toContain('**All 3 expectations met.**');
    expect(md).toContain('| ✅ | shootdown | VARIANT=sync | holds | holds | 28 |');
    const j = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as CiSummary;
    expect(j).toMatchObject({ format: 'tlbcheck-ci-summary', version: 1, ok: true, mismatches: 0 });
    expect(j.rows.map((x) => [x.params, x.got, x.states])).toEqual([
      [{ VARIANT: 'sync' }, 'holds', 28],
      [{ VARIANT: 'async', NMI: 0 }, 'holds', 52],
      [{ VARIANT: 'async', NMI: 1 }, 'violated', 30],
    ]);
    // the violating row's counterexample is kept, and it replays
    const trace = j.rows[2]!.trace!;
    expect(existsSync(trace)).toBe(true);
    expect(cli(['replay', trace, 'models/bench/shootdown.ts']).status).toBe(0);
  });

  it('is red when an expectation is flipped: exit 1, the race diagram, ::error annotations, a JUnit failure', () => {
    const out = join(dir, 'red');
    const junit = join(out, 'junit.xml');
    const r = cli(['ci', flipped, '--out', out, '--junit', junit], { GITHUB_ACTIONS: 'true' });
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/FAIL\s+shootdown\s+VARIANT=async NMI=1\s+holds\s+violated \(no-stale-access\)/);
    expect(r.stdout).toContain('ci: FAILED — 1 of 3 expectations not met');
    expect(r.stdout).toMatch(/CPU0\s+│ CPU1/); // the unexpected counterexample, readable
    const line = expectLine(readFileSync(flipped, 'utf8'), 2);
    expect(readFileSync(flipped, 'utf8').split('\n')[line - 1]).toContain("NMI: 1 }, verdict: 'holds'");
    expect(r.stdout).toContain(
      `::error file=${flipped},line=${line},title=tlbcheck%3A shootdown::shootdown (VARIANT=async NMI=1): expected holds, got violated (no-stale-access)`,
    );
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toMatch(/<testsuites name="tlbcheck ci" tests="3" failures="1" errors="0"/);
    expect(xml).toMatch(/<testcase classname="tlbcheck.shootdown" name="VARIANT=async NMI=1: holds"[^>]*>\s*<failure message="expected holds, got violated \(no-stale-access\)" type="verdict-mismatch">/);
    expect(xml).toContain('✗ no-stale-access: CPU0 can still use va0');
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('**1 of 3 expectations not met.**');
  });

  it('without GITHUB_ACTIONS there are no annotations', () => {
    const r = cli(['ci', flipped, '--out', join(dir, 'red2')]);
    expect(r.status).toBe(1);
    expect(r.stdout).not.toContain('::error');
  });

  it('--baseline reports changed verdicts and state counts', () => {
    const out = join(dir, 'base');
    expect(cli(['ci', 'models/bench/shootdown.ts', '--out', out]).status).toBe(0);
    const basePath = join(out, 'summary.json');
    const base = JSON.parse(readFileSync(basePath, 'utf8')) as { rows: Record<string, unknown>[] };
    base.rows[0]!.states = 20;
    base.rows[1]!.got = 'violated';
    base.rows.push({ ...base.rows[0]!, params: { VARIANT: 'gone' } });
    writeFileSync(basePath, JSON.stringify(base));
    const r = cli(['ci', 'models/bench/shootdown.ts', '--out', out, '--baseline', basePath]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('changes since baseline:');
    expect(r.stdout).toContain('shootdown (VARIANT=sync): states 20 → 28 (+40.0%)');
    expect(r.stdout).toContain('shootdown (VARIANT=async NMI=0): verdict violated → holds');
    expect(r.stdout).toContain('removed: shootdown (VARIANT=gone)');
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('## Changes since baseline');
    const again = cli(['ci', 'models/bench/shootdown.ts', '--out', out, '--baseline', basePath]);
    expect(again.stdout).toContain('no changes since baseline');
  });

  it('surfaces coverage and vacuity warnings (annotated), and --strict fails on them', () => {
    const out = join(dir, 'vac');
    const r = cli(['ci', vacuous, '--out', out], { GITHUB_ACTIONS: 'true' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('warning: vacuous (defaults): action never enabled: fire');
    expect(r.stdout).toContain('warning: vacuous (defaults): invariant armed-means-small is vacuous: its premise never held in any reachable state');
    expect(r.stdout).toMatch(/::warning file=[^,]*vacuous.ts,line=\d+,title=tlbcheck%3A vacuous::vacuous \(defaults\): invariant armed-means-small is vacuous/);
    const j = JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as CiSummary;
    expect(j.rows[0]!.warnings).toHaveLength(2);
    expect(readFileSync(join(out, 'summary.md'), 'utf8')).toContain('## Warnings');
    const strict = cli(['ci', vacuous, '--out', out, '--strict']);
    expect(strict.status).toBe(1);
    expect(strict.stdout).toContain('--strict: 2 coverage/vacuity warning(s)');
  });

  it('a model that fails to build is a JUnit error and fails the gate; helper modules a glob matched are listed as skipped', () => {
    const out = join(dir, 'err');
    const junit = join(out, 'j.xml');
    const r = cli(['ci', dir + '/{broken,helper}.ts', '--out', out, '--junit', junit, '--quiet']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('error: model broken: build() threw: no such CPU');
    expect(readFileSync(junit, 'utf8')).toMatch(/errors="1"[\s\S]*<error message="error: model broken: build\(\) threw: no such CPU"/);
    expect(r.stdout).toMatch(/skipped: .*helper\.ts \(no defineModel call/);
    expect((JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as CiSummary).skipped).toEqual([`${dir}/helper.ts`]);
  });

  it('cannot pass vacuously: nothing to gate, or a named file that is not a model, exits 2', () => {
    const none = cli(['ci', dir + '/helper.ts', '--out', join(dir, 'none')]);
    expect(none.status).toBe(2);
    expect(none.stderr).toMatch(/helper\.ts: no default export/);
    const globbed = cli(['ci', dir + '/help*.ts', '--out', join(dir, 'none')]);
    expect([globbed.status, globbed.stderr.trim()]).toEqual([2, 'tlbcheck: nothing to gate: 1 file matched, no models, 1 skipped (no defineModel call)']);
    const ungated = join(dir, 'ungated.ts');
    writeFileSync(ungated, readFileSync(vacuous, 'utf8').replace("expect: [{ verdict: 'holds' }],", ''));
    const u = cli(['ci', ungated, '--out', join(dir, 'none')]);
    expect([u.status, u.stderr.trim()]).toEqual([2, 'tlbcheck: nothing to gate: 1 file matched, 1 model without an expect block']);
  });

  it('an expect row naming an unknown parameter or invariant fails the gate before anything runs (exit 2)', () => {
    const param = join(dir, 'badparam.ts');
    writeFileSync(param, shootdownSrc.replace("{ params: { VARIANT: 'sync' }, verdict: 'holds' }", "{ params: { VARIANT: 'sync', CPUS: 3 }, verdict: 'holds' }"));
    const p = cli(['ci', param, '--out', join(dir, 'bad')]);
    expect(p.status).toBe(2);
    expect(p.stderr.trim()).toMatch(/^tlbcheck: tmp\/ci-test-\d+\/badparam\.ts:\d+: expect row 1: unknown parameter CPUS for model shootdown/);
    expect(p.stdout).toBe('');
    const inv = join(dir, 'badinv.ts');
    writeFileSync(inv, shootdownSrc.replace("invariant: 'no-stale-access' }", "invariant: 'no-stale-acess' }"));
    const i = cli(['ci', inv, '--out', join(dir, 'bad')]);
    expect(i.status).toBe(2);
    expect(i.stderr.trim()).toMatch(/expect row 3: unknown invariant no-stale-acess \(the model has no-stale-access, .*deadlock\)$/);
  });

  it('two files defining models of the same name get distinct trace files; --sarif points at the expect row', () => {
    const twin = join(dir, 'twin.ts');
    writeFileSync(twin, readFileSync(flipped, 'utf8'));
    const out = join(dir, 'twins');
    const sarif = join(out, 'ci.sarif');
    const r = cli(['ci', flipped, twin, '--out', out, '--sarif', sarif, '--quiet']);
    expect(r.status).toBe(1);
    const rows = (JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as CiSummary).rows.filter((x) => x.trace);
    expect(rows.map((x) => x.trace)).toEqual([
      `${out}/traces/${dir.replace(/\//g, '_')}_flipped.VARIANT=async.NMI=1.json`,
      `${out}/traces/${dir.replace(/\//g, '_')}_twin.VARIANT=async.NMI=1.json`,
    ]);
    const log = JSON.parse(readFileSync(sarif, 'utf8'));
    expect(log.version).toBe('2.1.0');
    const res = log.runs[0].results;
    expect(res).toHaveLength(2);
    expect(res[0]).toMatchObject({ ruleId: 'tlbcheck/verdict-mismatch', level: 'error', locations: [{ physicalLocation: { artifactLocation: { uri: flipped } } }] });
    const line = res[0].locations[0].physicalLocation.region.startLine;
    expect(readFileSync(flipped, 'utf8').split('\n')[line - 1]).toContain("NMI: 1 }, verdict: 'holds'");
  });

  it('an expect row can carry run options (symmetry, store, workers, maxStates); ci honours and prints them', () => {
    const withOptions = join(dir, 'options.ts');
    writeFileSync(
      withOptions,
      shootdownSrc.replace(
        "{ params: { VARIANT: 'sync' }, verdict: 'holds' },",
        `{ params: { VARIANT: 'sync', N: 4, P: 2 }, verdict: 'holds' },
    { params: { VARIANT: 'sync', N: 4, P: 2 }, options: { symmetry: 'cpu' }, verdict: 'holds' },
    { params: { VARIANT: 'sync', N: 4, P: 2 }, options: { store: 'fingerprint', workers: 2 }, verdict: 'holds' },
    { params: { VARIANT: 'sync', N: 4, P: 2 }, options: { store: 'compact' }, verdict: 'holds' },`,
      ),
    );
    const out = join(dir, 'opts');
    const r = cli(['ci', withOptions, '--out', out, '--quiet']);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ok\s+shootdown\s+VARIANT=sync N=4 P=2 \[symmetry=cpu\]\s+holds\s+holds/);
    const rows = (JSON.parse(readFileSync(join(out, 'summary.json'), 'utf8')) as CiSummary).rows;
    const [full, sym, fp, compact] = rows;
    expect(sym!.options).toEqual({ symmetry: 'cpu' });
    expect(sym!.states).toBeLessThan(full!.states / 4); // orbits of 4! permutations
    expect([fp!.states, fp!.transitions]).toEqual([full!.states, full!.transitions]);
    expect([compact!.states, compact!.transitions, compact!.options]).toEqual([full!.states, full!.transitions, { store: 'compact' }]);
    const capped = join(dir, 'capped.ts');
    writeFileSync(capped, shootdownSrc.replace("{ params: { VARIANT: 'sync' }, verdict: 'holds' },", "{ params: { VARIANT: 'sync', N: 4, P: 2 }, options: { maxStates: 10 }, verdict: 'holds' },"));
    const c = cli(['ci', capped, '--out', out, '--quiet']);
    expect(c.status).toBe(1);
    expect(c.stdout).toMatch(/shootdown \(VARIANT=sync N=4 P=2; maxStates=10\): expected holds, got incomplete \(stopped by max-states after 10 states\)/);
    const bad = join(dir, 'badopt.ts');
    writeFileSync(bad, shootdownSrc.replace("{ params: { VARIANT: 'sync' }, verdict: 'holds' },", "{ params: { VARIANT: 'sync' }, options: { por: true }, verdict: 'holds' } as never,"));
    const b = cli(['ci', bad, '--out', out]);
    expect(b.status).toBe(2);
    expect(b.stderr.trim()).toMatch(/expect row 1: unknown run option por \(known: symmetry, store, workers, maxStates, liveness\)$/);
    writeFileSync(bad, shootdownSrc.replace("{ params: { VARIANT: 'sync' }, verdict: 'holds' },", "{ params: { VARIANT: 'sync' }, options: { store: 'compact', workers: 2 }, verdict: 'holds' },"));
    const b2 = cli(['ci', bad, '--out', out]);
    expect(b2.status).toBe(2);
    expect(b2.stderr.trim()).toMatch(/expect row 1: run option store: compact runs on one thread \(workers must be 1\)$/);
  });

  it('--time-limit/--max-states are passed through: a cut-short run is a mismatch', () => {
    const r = cli(['ci', 'models/bench/shootdown.ts', '--out', join(dir, 'lim'), '--max-states', '5']);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('expected holds, got incomplete (stopped by max-states');
  });
});

describe('ci helpers', () => {
  it('expands globs, directories and files', () => {
    expect(expandModels(['models/bench/*.ts'])).toEqual(['models/bench/shootdown.ts']);
    expect(expandModels(['models/**/shoot*.ts'])).toEqual(['models/bench/shootdown.ts']);
    expect(expandModels(['models/bench'])).toEqual(['models/bench/shootdown.ts']);
    expect(expandModels(['./models/bench/shootdown.ts', 'models/bench/shootdown.ts'])).toEqual(['models/bench/shootdown.ts']);
    expect(expandModels([`${dir}/{vacuous,broken}.ts`])).toEqual([`${dir}/broken.ts`, `${dir}/vacuous.ts`]);
  });

  it('finds the line of each expect row', () => {
    const text = "a\nexpect: [\n  { verdict: 'holds' },\n  { params: {}, verdict: 'violated' },\n]";
    expect([0, 1, 2].map((i) => expectLine(text, i))).toEqual([3, 4, 2]);
  });

  it('diffs against a baseline by model file and parameters', () => {
    const row = { file: 'm.ts', model: 'm', params: { A: 1, B: 2 }, got: 'holds', states: 10, ok: true };
    const base = { format: 'tlbcheck-ci-summary', version: 1, rows: [row] } as unknown as CiSummary;
    expect(diffBaseline(base, [{ ...row, params: { B: 2, A: 1 } } as never])).toEqual([]);
    expect(diffBaseline(base, [{ ...row, states: 5, ok: false } as never]).map((c) => c.text)).toEqual([
      'm (A=1 B=2): states 10 → 5 (-50.0%), no longer matches its expectation',
    ]);
  });
});
