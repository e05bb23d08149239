/**
 * --checkpoint / --resume: a search stopped (by a signal here) and resumed
 * any number of times ends exactly as the uninterrupted one — the same
 * states, transitions, depth, verdict and counterexamples — with both
 * stores, with symmetry and with --all; a checkpoint of another search, or
 * a damaged file, is refused with one line.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkCompiled, checkCompiledAsync, type CheckResult } from '../src/engine/check.ts';
import { CheckpointError, readCheckpoint } from '../src/engine/checkpoint.ts';
import { instantiate } from '../src/engine/compile.ts';
import type { CheckOptions } from '../src/engine/explore.ts';
import shootdown from '../models/bench/shootdown.ts';
import syncModel from '../models/sync.ts';
import type { ModelDef } from '../src/engine/model.ts';

const dir = join('tmp', `checkpoint-${process.pid}`);
const SHOOT = resolve('models/bench/shootdown.ts');
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * Run to the end in sessions of about `every` new states, each stopped by a
 * signal and resumed from its checkpoint; `onTwo(k)`: session k runs on two
 * threads (parallel.ts), else on one. Returns the last session's result,
 * how many sessions ran, and how many two-thread checkpoints left their
 * level in pieces (ranges expanded out of order, which one thread must
 * honour).
 */
async function inSessions(
  params: Record<string, string | number | boolean>,
  opts: CheckOptions,
  every: number,
  file: string,
  def: ModelDef = shootdown,
  onTwo: (session: number) => boolean = () => false,
): Promise<{ r: CheckResult; sessions: number; pieces: number }> {
  rmSync(file, { force: true });
  let sessions = 0;
  let pieces = 0;
  for (;;) {
    sessions++;
    const model = instantiate(def, params);
    const ac = new AbortController();
    const resume = sessions > 1 ? readCheckpoint(file) : undefined;
    const start = resume?.store.count ?? 0;
    const two = onTwo(sessions);
    const r = await checkCompiledAsync(model, {
      ...opts,
      ...(two ? { workers: 2, waitForWorkers: true, chunk: 64, source: { file: SHOOT } } : {}),
      resume,
      checkpoint: { file, everyMs: 3_600_000 },
      signal: ac.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.states - start >= every) ac.abort();
      },
    });
    if (r.limit !== 'interrupted') return { r, sessions, pieces };
    expect(r.checkpoint?.states).toBe(r.states);
    if (two && readCheckpoint(file).expanded.length > 0) pieces++;
    if (sessions > 200) throw new Error('does not converge');
  }
}

const same = (a: CheckResult, b: CheckResult) => {
  expect([b.verdict, b.states, b.transitions, b.depth]).toEqual([a.verdict, a.states, a.transitions, a.depth]);
  expect(b.violations.map((v) => [v.invariant, v.trace.map((s) => `${s.action}(${s.args})`)])).toEqual(a.violations.map((v) => [v.invariant, v.trace.map((s) => `${s.action}(${s.args})`)]));
  expect(b.warnings.filter((w) => !w.startsWith('resumed'))).toEqual(a.warnings);
};

describe('a resumed search ends as the uninterrupted one', () => {
  const cases: [string, Record<string, string | number | boolean>, CheckOptions, ModelDef][] = [
    ['exact store, holds', { N: 4, P: 2 }, {}, shootdown],
    ['fingerprint store, holds', { N: 4, P: 2 }, { store: 'fingerprint' }, shootdown],
    ['cpu symmetry, holds', { N: 5, P: 2 }, { symmetry: 'cpu' }, shootdown],
    ['--all on a violating model (violations found before a checkpoint are kept)', { N: 4, P: 2, VARIANT: 'async', NMI: 1 }, { all: true }, shootdown],
    // 7 words: the tree store, its frontier of root pairs (saved as packed states).
    ['tree store, holds', { N: 2, P: 2, OPS: 2 }, { exactStore: 'tree' }, syncModel],
    ['tree store, violated, --all', { N: 2, P: 2, OPS: 2, dirtySetRechecksPte: false }, { all: true, exactStore: 'tree' }, syncModel],
  ];
  it.each(cases)('%s', async (_name, params, opts, def) => {
    const straight = checkCompiled(instantiate(def, params), opts);
    // A session stops at the first check (every few ms) after `every` new states, so it may run past them.
    const { r, sessions } = await inSessions(params, opts, Math.ceil(straight.states / 8), join(dir, `${_name.replace(/\W+/g, '-')}.ckpt`), def);
    expect(sessions).toBeGreaterThanOrEqual(3);
    same(straight, r);
  });
});

describe('checkpoints between one thread and two', () => {
  let allPieces = 0;
  const cases: [string, Record<string, string | number | boolean>, CheckOptions][] = [
    // (Symmetry and the exact store on a holding run take the same paths of parallel.ts as these.)
    ['fingerprint store', { N: 4, P: 2 }, { store: 'fingerprint' }],
    ['exact store, --all, violated', { N: 4, P: 2, VARIANT: 'async', NMI: 1 }, { all: true }],
  ];
  it.each(cases)('%s', async (name, params, opts) => {
    const straight = checkCompiled(instantiate(shootdown, params), opts);
    // Odd sessions on two threads, even ones on one: each resumes the other's checkpoints.
    const { r, sessions, pieces } = await inSessions(params, opts, Math.ceil(straight.states / 4), join(dir, `mixed-${name.replace(/\W+/g, '-')}.ckpt`), shootdown, (k) => k % 2 === 1);
    expect(sessions).toBeGreaterThanOrEqual(3);
    allPieces += pieces;
    same(straight, r);
  });
  // Where a session stops is timing: over all cases, some two-thread checkpoint left its level in pieces (the case one thread must honour).
  it('some two-thread checkpoint left its level in pieces', () => expect(allPieces).toBeGreaterThan(0));
});

describe('checkpoints that do not fit', () => {
  const file = join(dir, 'base.ckpt');
  const stopped = () => {
    const ac = new AbortController();
    checkCompiled(instantiate(shootdown, { N: 4, P: 2 }), { checkpoint: { file, everyMs: 3_600_000 }, signal: ac.signal, progressIntervalMs: 0, onProgress: () => ac.abort() });
  };

  it('another parameter set or another store is refused', () => {
    stopped();
    const resume = readCheckpoint(file);
    expect(() => checkCompiled(instantiate(shootdown, { N: 4, P: 1 }), { resume })).toThrow(/other parameters \(N=4 P=2/);
    expect(() => checkCompiled(instantiate(shootdown, { N: 4, P: 2 }), { resume, store: 'fingerprint' })).toThrow(/written with store exact, this run has fingerprint/);
  });

  it('a damaged or foreign file is refused', () => {
    stopped();
    const bytes = readFileSync(file);
    writeFileSync(join(dir, 'cut.ckpt'), bytes.subarray(0, bytes.length - 100));
    expect(() => readCheckpoint(join(dir, 'cut.ckpt'))).toThrow(CheckpointError);
    expect(() => readCheckpoint(join(dir, 'cut.ckpt'))).toThrow(/truncated/);
    writeFileSync(join(dir, 'foreign.ckpt'), '{"hello": 1}');
    expect(() => readCheckpoint(join(dir, 'foreign.ckpt'))).toThrow(/is not a tlbcheck checkpoint/);
  });

  it('the CLI: --time-limit, then --resume to the end; a mismatch is one line, exit 2', () => {
    const ck = join(dir, 'cli.ckpt');
    const cli = (...a: string[]) => spawnSync(process.execPath, ['bin/tlbcheck.js', 'models/bench/shootdown.ts', '--set', 'N=5', '--set', 'P=2', ...a], { encoding: 'utf8' });
    // What one uninterrupted run of N=5 P=2 gives (the in-process cases above compare runs directly).
    const straight = 'shootdown: 804,096 states, 10,641,920 transitions, depth 22';
    const first = cli('--time-limit', '0.2', '--checkpoint', ck);
    expect(first.status, first.stderr).toBe(3);
    expect(first.stdout).toMatch(/checkpoint: .*cli\.ckpt \([\d,]+ states\); go on with --resume/);
    let last = first;
    let sessions = 1;
    for (; sessions < 50 && last.status === 3; sessions++) last = cli('--resume', ck, '--time-limit', '3');
    expect(last.status, last.stderr).toBe(0);
    expect(sessions).toBeGreaterThan(1);
    expect(last.stdout).toContain(straight);
    const bad = spawnSync(process.execPath, ['bin/tlbcheck.js', 'models/bench/shootdown.ts', '--resume', ck], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toMatch(/^tlbcheck: cannot resume from .*cli\.ckpt: it was written with other parameters/);
  });

});
