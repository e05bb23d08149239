import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ModelDef } from '../src/engine/model.js';
import { readTrace, TRACE_FORMAT, TraceFormatError } from '../src/report/json.js';
import { replayTrace } from '../src/replay.js';
import { validate } from './report-schema.js';

const schema = JSON.parse(readFileSync('schema/trace.schema.json', 'utf8')) as Record<string, unknown>;
const TRACES = 'test/traces';
const shipped = readdirSync(TRACES).filter((f) => f.endsWith('.json')).sort();
const tmp = mkdtempSync(join(tmpdir(), 'tlbcheck-replay-'));
const cli = (...args: string[]) => spawnSync('node', ['bin/tlbcheck.js', ...args], { cwd: process.cwd(), encoding: 'utf8' });
const load = (f: string) => JSON.parse(readFileSync(join(TRACES, f), 'utf8')) as Record<string, any>;
const modelOf = async (doc: Record<string, any>) => ((await import(pathToFileURL(resolve(doc.modelFile)).href)) as { default: ModelDef }).default;
const SHOOTDOWN = 'shootdown.VARIANT=async.NMI=1.json';

describe('shipped counterexamples (test/traces/*.json)', () => {
  it('are there', () => {
    expect(shipped).toContain(SHOOTDOWN);
  });

  it.each(shipped)('%s conforms to schema/trace.schema.json', (f) => {
    const doc = load(f);
    expect(validate(schema, doc)).toEqual([]);
    expect(doc.steps[0].action).toBe('init');
    if (doc.kind === 'invariant') expect(doc.steps.at(-1).invariants[doc.invariant]).toBe(false);
    expect(doc.modelFile).toMatch(/^models\//);
  });

  it.each(shipped)('%s still replays: a valid path that still violates its invariant', async (f) => {
    const doc = load(f);
    const { report } = replayTrace(await modelOf(doc), doc);
    expect(report.failure).toBeNull();
    expect(report).toMatchObject({ validPath: true, stillViolates: true, reproduces: true, stateDiff: null });
    if (doc.kind === 'invariant') expect(report.violatedNow).toContain(doc.invariant);
  });
});

describe('tlbcheck replay', () => {
  const trace = join(TRACES, SHOOTDOWN);
  const model = 'models/bench/shootdown.ts';
  const write = (name: string, doc: unknown) => {
    const p = join(tmp, name);
    writeFileSync(p, JSON.stringify(doc));
    return p;
  };

  it('exits 0 with the race diagram when the trace reproduces', () => {
    const r = cli('replay', trace, model);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('✓ valid path: all 4 steps are enabled where they are taken');
    expect(r.stdout).toMatch(/CPU0\s+│ CPU1/);
    expect(r.stdout).toContain('✓ still violates no-stale-access');
    expect(r.stdout.trim().split('\n').at(-1)).toBe('replay: reproduces');
  });

  it('exits 1 when the path is valid but the violation is gone (the model was fixed)', () => {
    const doc = load(SHOOTDOWN);
    doc.params.NMI = 0; // the IPI window is no longer NMI-exposed
    const r = cli('replay', write('fixed.json', doc), model);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('✓ valid path');
    expect(r.stdout).toContain('✗ no longer violates no-stale-access');
    expect(r.stdout).toContain('replay: does not reproduce');
  });

  it('exits 1 naming the first step that is no longer enabled', () => {
    const doc = load(SHOOTDOWN);
    doc.steps.splice(2, 1); // drop the remap + IPI: nobody can ack
    const r = cli('replay', write('invalid.json', doc), model);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('✗ not a valid path any more: step 2 ack(0): not enabled in the replayed state');
  });

  it('exits 1 when an action no longer exists', () => {
    const doc = load(SHOOTDOWN);
    doc.steps[1].action = 'walk_v2';
    const r = cli('replay', write('renamed.json', doc), model);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('step 1 walk_v2(0,0): the model has no action walk_v2');
  });

  it('reports, but tolerates, recorded states that differ', () => {
    const doc = load(SHOOTDOWN);
    doc.steps[1].state.done = [1];
    const r = cli('replay', write('drift.json', doc), model, '--json');
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ format: 'tlbcheck-replay', reproduces: true, stateDiff: { step: 1, paths: ['done[0]'] } });
  });

  it('also replays a `--json` check result', () => {
    const res = cli(model, '--set', 'VARIANT=async', '--set', 'NMI=1', '--json');
    expect(res.status).toBe(1);
    const r = cli('replay', write('result.json', JSON.parse(res.stdout)), model);
    expect(r.status).toBe(0);
    expect(cli('replay', write('result2.json', JSON.parse(res.stdout)), model, '--violation', '2').status).toBe(2);
  });

  // Unreadable traces (not JSON, foreign, another version or model, bad parameters, missing): test/bad-input.test.ts.
  it('readTrace validates the essentials', () => {
    expect(() => readTrace({ format: TRACE_FORMAT, version: 1, model: 'm', params: {}, invariant: 'x', steps: [] })).toThrow(TraceFormatError);
    expect(() => readTrace({ format: TRACE_FORMAT, version: 1, model: 'm', params: {}, invariant: 'x', steps: [{ action: 'go', args: [] }] })).toThrow(/step 0 must be the initial state/);
  });
});

describe('--trace-out', () => {
  it('writes a schema-valid trace, sliced with --slice', () => {
    const out = join(tmp, 'out.json');
    const r = cli('models/bench/shootdown.ts', '--set', 'N=3', '--set', 'VARIANT=async', '--set', 'NMI=1', '--slice', '--trace-out', out);
    expect(r.status).toBe(1);
    const doc = JSON.parse(readFileSync(out, 'utf8'));
    expect(validate(schema, doc)).toEqual([]);
    expect(doc.slice).toEqual({ of: 5, kept: [1, 2, 3, 4, 5] });
    expect(doc.steps.map((s: { cpu: number | null }) => s.cpu)).toEqual([null, 0, 1, 0, 2, 1]);
    expect(doc.steps[1].changed).toEqual(['tlb[0][0]']);
  });
});
