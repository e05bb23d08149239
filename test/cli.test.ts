/**
 * The command line as a user meets it: exit codes, the JSON document, and a
 * one-line error with exit status 2 for every kind of bad input.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { earlyStartFor } from '../src/engine/worker-threads.mjs';

const root = join(import.meta.dirname, '..');
const SHOOT = 'models/bench/shootdown.ts';
const COUNTER = 'test/fixtures/counter.ts';

function run(...args: string[]) {
  const r = spawnSync(process.execPath, ['bin/tlbcheck.js', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, GITHUB_ACTIONS: '' } });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

/** Exit 2, nothing on stdout, exactly one line on stderr that contains `text`, no stack trace. */
function expectUsageError(r: ReturnType<typeof run>, text: string | RegExp) {
  expect(r.code).toBe(2);
  const lines = r.err.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(text);
  expect(r.err).not.toMatch(/\n\s+at /);
}

describe('exit codes and output', () => {
  it('prints the 4-step NMI race and exits 1', () => {
    const r = run(SHOOT, '--set', 'N=2', '--set', 'P=1', '--set', 'K=1', '--set', 'VARIANT=async', '--set', 'NMI=1');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/no-stale-access/);
    expect(r.out).toMatch(/walk/);
    expect(r.out).toMatch(/ack/);
    expect(r.out).toMatch(/finish|returns/);
    expect(r.out).toMatch(/verdict: violated/);
  });

  it('exits 0 when every invariant holds', () => {
    const r = run(SHOOT, '--set', 'N=3', '--set', 'P=2', '--quiet');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/5,056 states, 39,552 transitions, depth 14/);
    expect(r.out).toMatch(/verdict: holds/);
  });

  it('exits 3 when a limit stops the run', () => {
    expect(run(SHOOT, '--set', 'N=4', '--set', 'P=2', '--max-states', '100').code).toBe(3);
    expect(run(SHOOT, '--set', 'N=4', '--set', 'P=2', '--max-depth', '3').code).toBe(3);
    const t = run(SHOOT, '--set', 'N=6', '--set', 'P=2', '--time-limit', '0.05', '--json');
    expect(t.code).toBe(3);
    expect(JSON.parse(t.out)).toMatchObject({ verdict: 'incomplete', limit: 'time-limit' });
  });

  it('--max-depth that covers the whole state space is complete', () => {
    const r = run(SHOOT, '--max-depth', '5', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ verdict: 'holds', states: 28, depth: 5 });
    const cut = JSON.parse(run(SHOOT, '--max-depth', '4', '--json').out);
    expect(cut).toMatchObject({ verdict: 'incomplete', limit: 'max-depth', depth: 4 });
    expect(cut.states).toBeLessThan(28);
  });

  it('--json prints exactly one JSON document with the documented fields', () => {
    const r = run(SHOOT, '--set', 'VARIANT=async', '--set', 'NMI=1', '--json');
    expect(r.code).toBe(1);
    const doc = JSON.parse(r.out);
    expect(doc).toMatchObject({ model: 'shootdown', verdict: 'violated', params: { N: 2, VARIANT: 'async', NMI: 1 } });
    for (const k of ['states', 'transitions', 'depth', 'elapsedMs']) expect(typeof doc[k]).toBe('number');
    const v = doc.violations[0];
    expect(v.invariant).toBe('no-stale-access');
    expect(v.trace).toHaveLength(5);
    expect(v.trace[1]).toMatchObject({ action: 'walk', args: expect.any(Array) });
    expect(v.trace[4].state).toHaveProperty('tlb');
  });

  it('--all reports one trace per violated invariant, --invariant restricts the check', () => {
    const all = JSON.parse(run(COUNTER, '--set', 'FAULT=deadlock', '--all', '--json').out);
    expect(all.violations.map((v: { invariant: string }) => v.invariant)).toEqual(['deadlock']);
    const r = run(SHOOT, '--invariant', 'no-stale-access', '--quiet');
    expect(r.code).toBe(0);
  });

  it('reports a deadlock as a violation of kind deadlock', () => {
    const r = run(COUNTER, '--set', 'FAULT=deadlock', '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out).violations[0]).toMatchObject({ invariant: 'deadlock', kind: 'deadlock' });
  });
});

describe('--store and --workers', () => {
  it('compact store: the exact search (counts, verdict, trace) of a model of more than two words, tree-compressed', () => {
    const SYNC = 'models/sync.ts';
    const bug = ['--set', 'N=3', '--set', 'dirtySetRechecksPte=false', '--json'];
    const [e2, c2] = ['exact', 'compact'].map((k) => JSON.parse(run(SYNC, ...bug, '--store', k).out));
    expect(c2).toMatchObject({ verdict: 'violated', store: 'exact' });
    expect([c2.states, c2.transitions, c2.depth]).toEqual([e2.states, e2.transitions, e2.depth]);
    expect(c2.violations.map((v: { trace: { description: string }[] }) => v.trace.map((s) => s.description))).toEqual(
      e2.violations.map((v: { trace: { description: string }[] }) => v.trace.map((s) => s.description)),
    );
  });

  it('fingerprint store: same counts, the chance of a missed state in text and JSON', () => {
    const r = run(SHOOT, '--set', 'N=3', '--set', 'P=2', '--store', 'fingerprint');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/5,056 states, 39,552 transitions, depth 14/);
    expect(r.out).toMatch(/probability that a state was missed .* ≈ 6\.9e-13/);
    const doc = JSON.parse(run(SHOOT, '--set', 'N=3', '--set', 'P=2', '--store', 'fingerprint', '--json').out);
    expect(doc).toMatchObject({ store: 'fingerprint', workers: 1, states: 5056, verdict: 'holds' });
    expect(doc.omissionProbability).toBeGreaterThan(6.9e-13);
    expect(doc.omissionProbability).toBeLessThan(7e-13);
    expect(JSON.parse(run(SHOOT, '--json').out)).not.toHaveProperty('omissionProbability');
  });

  it('--workers 2: same counts and the same shortest counterexample', () => {
    const doc = JSON.parse(run(SHOOT, '--set', 'N=4', '--set', 'P=2', '--workers', '2', '--json').out);
    expect(doc).toMatchObject({ workers: 2, store: 'exact', verdict: 'holds' });
    const one = JSON.parse(run(SHOOT, '--set', 'N=4', '--set', 'P=2', '--json').out);
    expect([doc.states, doc.transitions, doc.depth]).toEqual([one.states, one.transitions, one.depth]);
    const v = run(SHOOT, '--set', 'VARIANT=async', '--set', 'NMI=1', '--set', 'N=3', '--workers', '2', '--store', 'fingerprint', '--json');
    expect(v.code).toBe(1);
    expect(JSON.parse(v.out).violations[0].trace).toHaveLength(6);
  });

  it('worker threads started before the arguments are parsed: a wrong guess at the model file only costs a load', () => {
    // The first file-like argument is the --html value, so the threads
    // started early load the wrong file; the run sends them the right one.
    const dir = mkdtempSync(join(tmpdir(), 'tlbcheck-early-'));
    const doc = JSON.parse(run('--html', join(dir, 'report.ts'), SHOOT, '--set', 'N=3', '--set', 'P=2', '--workers', '2', '--json').out);
    expect(doc).toMatchObject({ workers: 2, states: 5056, verdict: 'holds' });
    expect(existsSync(join(dir, 'report.ts'))).toBe(true);
    // --describe takes no run: the threads are stopped and the process ends.
    const d = run(SHOOT, '--workers', '2', '--describe');
    expect([d.code, d.out.split('\n')[0]]).toEqual([0, expect.stringMatching(/^shootdown:/)]);
  });

  it('what bin/tlbcheck.js guesses a run needs, from the raw arguments', () => {
    expect(earlyStartFor([SHOOT, '--workers', '2'])).toEqual({ threads: 1, file: SHOOT });
    expect(earlyStartFor(['check', '--workers=4', '--set', 'N=3', SHOOT])).toEqual({ threads: 3, file: SHOOT });
    expect(earlyStartFor(['--workers', '3', 'm.mts', 'other.ts'])).toEqual({ threads: 2, file: 'm.mts' });
    // Nothing to start: one participant, a bad count, no model file, another command.
    for (const args of [[SHOOT], [SHOOT, '--workers', '1'], [SHOOT, '--workers', '2x'], [SHOOT, '--workers', '65'], [SHOOT, '--workers'], ['--workers', '2'], ['ci', SHOOT, '--workers', '2'], ['replay', 't.json', SHOOT, '--workers', '2']])
      expect(earlyStartFor(args)).toBeUndefined();
    // The count is not taken for the model file.
    expect(earlyStartFor(['--workers', '2.ts', SHOOT])).toBeUndefined();
  });

  it('a memory budget too small ends the run incomplete (exit 3), never an out-of-memory crash', () => {
    // (One thread with each store: test/faults.test.ts.)
    for (const extra of [['--workers', '2'], ['--workers', '2', '--store', 'fingerprint']]) {
      const r = run(SHOOT, '--set', 'N=5', '--set', 'P=2', '--memory-limit', '16', '--json', ...extra);
      expect(r.code).toBe(3);
      expect(JSON.parse(r.out)).toMatchObject({ verdict: 'incomplete', limit: 'memory' });
    }
  });
});

// The full bad-input table runs in-process (test/bad-input.test.ts); these
// need the real binary: it starts worker threads before the model loads.
describe('bad input through the binary: one line, exit 2', () => {
  it('missing model file', () => expectUsageError(run('models/nope.ts'), /model file not found: models\/nope\.ts/));
  it('missing model file, worker threads already started for it', () =>
    expectUsageError(run('models/nope.ts', '--workers', '2'), /model file not found: models\/nope\.ts/));
  it('syntax error, worker threads already started for the file', () =>
    expectUsageError(run('test/fixtures/bad-syntax.ts', '--workers', '2'), /bad-syntax\.ts:3:\d+: syntax error/));
  it('guard that throws: action, arguments and state', () =>
    expectUsageError(run(COUNTER, '--set', 'FAULT=guard'), /guard of inc\(0\) threw guard exploded; state: \{"n":\[2,0\]/));
});

describe('models outside the package', () => {
  it('load with --workers 2 too (the worker threads resolve tlbcheck as the main thread does); init scaffolds through the CLI', () => {
    const d = mkdtempSync(join(tmpdir(), 'tlbcheck-outside-'));
    writeFileSync(
      join(d, 'm.ts'),
      `import { array, cpus, defineModel, int, machine } from 'tlbcheck';
export default defineModel({ name: 'outside', description: 'two counters', params: {}, build: () => {
  const CPU = cpus(2);
  return machine({ x: array(CPU, int(0, 2)) }, { actions: { inc: { over: [CPU], guard: (s, c) => (s.x[c] ?? 2) < 2, effect: (s, c) => void (s.x[c] = (s.x[c] ?? 0) + 1) } }, endState: () => true });
} });
`,
    );
    for (const w of ['1', '2']) {
      const r = run(join(d, 'm.ts'), '--workers', w, '--quiet');
      expect([r.code, r.err], w).toEqual([0, '']);
      expect(r.out).toMatch(/outside: 9 states/);
    }
    const init = run('init', join(d, 'scaffold'));
    expect(init.code, init.err).toBe(0);
    expect(existsSync(join(d, 'scaffold', 'models', 'shootdown.ts'))).toBe(true);
    expectUsageError(run('init', join(d, 'scaffold')), /already exist; nothing was written/);
  });
});

describe('simulate through the binary', () => {
  it('finds the NMI race at N=6, prints a shrunk trace that replays (exit 1); a holding model is never proven (exit 3)', () => {
    const trace = join(mkdtempSync(join(tmpdir(), 'tlbcheck-sim-')), 'sim.json');
    const r = run('simulate', 'models/async.ts', '--set', 'N=6', '--seed', '1', '--time-limit', '20', '--trace-out', trace);
    expect(r.code, r.err).toBe(1);
    expect(r.out).toMatch(/verdict: violated — no-stale-access/);
    expect(r.out).toMatch(/shrunk to \d+/);
    expect(run('replay', trace, 'models/async.ts').code).toBe(0);
    const h = run('simulate', 'models/sync.ts', '--set', 'N=6', '--seed', '1', '--runs', '50');
    expect(h.code, h.err).toBe(3);
    expect(h.out).toMatch(/no violation found in 50 walks \(not a proof\)/);
  });
});

describe('pipes', () => {
  it('a reader that closes early (| head) is not an error and prints no stack trace', () => {
    const r = spawnSync('bash', ['-c', `"${process.execPath}" bin/tlbcheck.js ${SHOOT} --set VARIANT=async --set NMI=1 --steps | head -c 10 >/dev/null; echo "rc=\${PIPESTATUS[0]}"`], {
      cwd: root,
      encoding: 'utf8',
    });
    expect(r.stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(r.stdout).toMatch(/rc=(0|1)/);
  });
});
