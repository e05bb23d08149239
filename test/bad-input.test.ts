/**
 * The bad-input table: every malformed input a user can give — model files
 * that throw at load, build, guard, effect, invariant, describe, init or end
 * state; out-of-range writes; bad flags and parameters; corrupted, foreign
 * or stale traces; bad ci inputs; unwritable report paths — gives exactly
 * one line on stderr naming the problem, nothing on stdout, exit status 2,
 * never a stack trace, and leaves no partial file behind.
 *
 * The CLI runs in-process (main() with captured output): the same code
 * path as bin/tlbcheck.js minus Node's start-up, so the table stays fast.
 * test/cli.test.ts runs the real binary for the cases that need a process.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.ts';

const SHOOT = 'models/bench/shootdown.ts';
const COUNTER = 'test/fixtures/counter.ts';
const FAULTS = 'test/fixtures/faults.ts';
const TRACE = 'test/traces/async.json';
const dir = join('tmp', `bad-input-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const asyncTrace = JSON.parse(readFileSync(TRACE, 'utf8')) as { steps: { action: string; args: number[] }[]; version: number; model: string; params: Record<string, unknown> };
const traceWith = (name: string, edit: (t: typeof asyncTrace) => unknown) => file(name, JSON.stringify(edit(structuredClone(asyncTrace))));
const notADir = file('plain-file', 'x');

async function cli(args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['node', 'tlbcheck', ...args], { out: (s) => void (out += s), err: (s) => void (err += s), isTTY: false });
  return { code, out, err };
}

/** [what, argv, the one line must match]. */
const TABLE: [string, string[], RegExp][] = [
  // model files
  ['missing model file', ['models/nope.ts'], /model file not found: models\/nope\.ts/],
  ['model path is a directory', ['models'], /model path is not a file: models/],
  ['no model argument', [], /missing required argument/],
  ['TypeScript syntax error', ['test/fixtures/bad-syntax.ts'], /bad-syntax\.ts:3:\d+: syntax error/],
  ['no default export', ['test/fixtures/bad-noexport.ts'], /no default export/],
  ['throws while loading', ['test/fixtures/bad-throws.ts'], /loading the model threw: boom at load/],
  ['default export is not a model', [file('notmodel.ts', 'export default { name: "x" };\n')], /the default export is not a model made with defineModel/],
  ['imports a module that does not exist', [file('badimport.ts', "import './no-such-helper.js';\nexport default 1;\n")], /badimport\.ts: cannot load: /],
  // the model's own code
  ['build() throws', [COUNTER, '--set', 'FAULT=build'], /counter\.ts: model counter: build\(\) threw: bad parameter combination/],
  ['build() returns no machine', [FAULTS, '--set', 'FAULT=build-non-machine'], /build\(\) must return a machine with state and actions/],
  ['empty int range in the state', [FAULTS, '--set', 'FAULT=decl-range'], /int\(3, 1\): empty range/],
  ['declared init out of range', [FAULTS, '--set', 'FAULT=decl-init'], /int\(0, 3\): init 7 out of range/],
  ['action over an empty range', [FAULTS, '--set', 'FAULT=over-bad'], /action step ranges over an empty set/],
  ['cpu() throws', [FAULTS, '--set', 'FAULT=cpu-throws'], /cpu\(\) of action step\(0\) threw which cpu/],
  ['init() throws', [FAULTS, '--set', 'FAULT=init-throws'], /faults\.ts: init\(\) threw: no initial state/],
  ['init() leaves a value out of range', [FAULTS, '--set', 'FAULT=init-range'], /initial state: n = 9 is outside its declared range/],
  ['guard throws', [COUNTER, '--set', 'FAULT=guard'], /guard of inc\(0\) threw guard exploded; state: \{"n":\[2,0\]/],
  ['effect throws', [COUNTER, '--set', 'FAULT=effect'], /effect of inc\(0\) threw TypeError: effect exploded; state:/],
  ['effect writes outside the range', [COUNTER, '--set', 'FAULT=range'], /action inc\(0\) wrote n\[0\] = 8, outside its declared range/],
  ['effect replaces a state array', [COUNTER, '--set', 'FAULT=replace'], /replaces an array of the state/],
  ['invariant throws', [COUNTER, '--set', 'FAULT=invariant'], /invariant bounded threw RangeError: invariant exploded/],
  ['premise throws', [FAULTS, '--set', 'FAULT=premise-throws'], /invariant small threw premise exploded; state: \{"n":1/],
  ['endState() throws', [FAULTS, '--set', 'FAULT=end-throws'], /endState\(\) threw end exploded; state: \{"n":3/],
  ['describe() throws', [FAULTS, '--set', 'FAULT=describe'], /faults\.ts: describe\(\) of step\(0\) threw cannot describe/],
  ['guard throws, on two workers', [COUNTER, '--set', 'FAULT=guard', '--workers', '2'], /guard of inc\(0\) threw guard exploded/],
  // parameters
  ['unknown --set name', [SHOOT, '--set', 'X=1'], /unknown parameter X .*known: N, P, K, VARIANT, NMI/],
  ['out-of-range --set', [SHOOT, '--set', 'N=9'], /N=9 is out of range 2\.\.6/],
  ['--set not an integer', [SHOOT, '--set', 'N=two'], /parameter N: "two" is not an integer/],
  ['--set bad hex', [SHOOT, '--set', 'N=0xg'], /parameter N: "0xg" is not an integer/],
  ['--set without =', [SHOOT, '--set', 'N'], /--set expects NAME=VALUE/],
  ['--set bad enum', [SHOOT, '--set', 'VARIANT=lazy'], /not one of sync, async/],
  ['--set bad boolean', ['models/sync.ts', '--set', 'freeTables=maybe'], /freeTables: "maybe" is not a boolean/],
  ['parameter combination the model rejects', ['models/sync.ts', '--set', 'OPS=2'], /parameters of sync: OPS=2 needs P >= 2/],
  ['unknown invariant', [SHOOT, '--invariant', 'no-such'], /unknown invariant no-such/],
  // flags
  ['--max-states 0', [SHOOT, '--max-states', '0'], /--max-states must be a positive integer, got "0"/],
  ['--max-depth -1', [SHOOT, '--max-depth', '-1'], /--max-depth must be a positive integer/],
  ['--time-limit not a number', [SHOOT, '--time-limit', 'soon'], /--time-limit must be a positive number of seconds/],
  ['--memory-limit not a number', [SHOOT, '--memory-limit', 'lots'], /--memory-limit must be a positive number of MiB, got "lots"/],
  ['unknown option', [SHOOT, '--frobnicate'], /unknown option '--frobnicate'/],
  ['unknown --store', [SHOOT, '--store', 'bitstate'], /Allowed choices are exact, compact, fingerprint/],
  ['--store compact on workers', [SHOOT, '--store', 'compact', '--workers', '2'], /--store compact runs on one thread/],
  ['unknown --symmetry', [SHOOT, '--symmetry', 'pages'], /Allowed choices are none, cpu, all/],
  ['--workers 0', [SHOOT, '--workers', '0'], /--workers must be an integer from 1 to 64, got "0"/],
  ['--workers 65', [SHOOT, '--workers', '65'], /--workers must be an integer from 1 to 64/],
  ['--workers without a value', [SHOOT, '--workers'], /argument missing/],
  ['unknown subcommand-like option', ['--frobnicate'], /unknown option/],
  // report paths
  ['--trace-out under a pseudo-filesystem', [SHOOT, '--trace-out', '/proc/no-such/t.json'], /cannot write --trace-out file \/proc\/no-such\/t\.json: /],
  ['--html under a plain file', [SHOOT, '--html', `${notADir}/r.html`], /cannot write --html report .*plain-file\/r\.html: .*is not a directory/],
  ['--html is a directory', [SHOOT, '--html', dir], /cannot write --html report .*: it is a directory/],
  // traces
  ['replay: trace file missing', ['replay', 'nope.json', SHOOT], /nope\.json/],
  ['replay: not JSON', ['replay', file('garbage.json', '{"steps": [1, 2'), 'models/async.ts'], /garbage\.json: .*JSON/],
  ['replay: foreign JSON', ['replay', file('foreign.json', '{"hello": "world"}'), 'models/async.ts'], /not a tlbcheck trace/],
  ['replay: unsupported version', ['replay', traceWith('v99.json', (t) => ({ ...t, version: 99 })), 'models/async.ts'], /version 99/],
  ['replay: trace of another model', ['replay', TRACE, SHOOT], /the trace is of model async, not shootdown/],
  ['replay: steps missing', ['replay', traceWith('nosteps.json', (t) => ({ ...t, steps: 'none' })), 'models/async.ts'], /steps/],
  ['replay: bad parameter in the trace', ['replay', traceWith('badparam.json', (t) => ({ ...t, params: { ...t.params, N: 99 } })), 'models/async.ts'], /N=99 is out of range/],
  ['replay: --violation 0', ['replay', TRACE, 'models/async.ts', '--violation', '0'], /--violation must be a positive integer/],
  // simulate
  ['simulate: model file missing', ['simulate', 'models/nope.ts'], /model file not found: models\/nope\.ts/],
  ['simulate: bad seed', ['simulate', SHOOT, '--seed', 'x'], /--seed/],
  ['simulate: --steps 0', ['simulate', SHOOT, '--steps', '0'], /--steps must be a positive integer/],
  ['simulate: unknown parameter', ['simulate', SHOOT, '--set', 'Q=1'], /unknown parameter Q/],
  ['simulate: model that throws', ['simulate', COUNTER, '--set', 'FAULT=effect', '--seed', '1'], /effect of inc\(\d\) threw TypeError: effect exploded/],
  // ci
  ['ci: named file missing', ['ci', 'no-such-file.ts', '--out', join(dir, 'ci')], /no such model file or directory: no-such-file\.ts/],
  ['ci: --time-limit not a number', ['ci', '--time-limit', 'x'], /--time-limit must be a positive number of seconds/],
  ['ci: glob that matches nothing', ['ci', 'nothing/**/*.ts', '--out', join(dir, 'ci')], /no model files match nothing\/\*\*\/\*\.ts/],
  ['ci: named file is not a model', ['ci', 'test/fixtures/bad-noexport.ts', '--out', join(dir, 'ci')], /no default export/],
  ['ci: nothing to gate', ['ci', 'test/fixtures/faults.ts', '--out', join(dir, 'ci')], /nothing to gate: 1 file matched, 1 model without an expect block/],
  ['ci: baseline missing', ['ci', SHOOT, '--baseline', 'nope.json', '--out', join(dir, 'ci')], /baseline not found: nope\.json/],
  ['ci: baseline not a summary', ['ci', SHOOT, '--baseline', file('notsummary.json', '[]'), '--out', join(dir, 'ci')], /not a tlbcheck ci summary/],
  ['ci: report directory unwritable', ['ci', SHOOT, '--out', '/proc/no-such'], /cannot write ci report directory \/proc\/no-such\/summary\.json/],
  ['ci: --junit under a plain file', ['ci', SHOOT, '--out', join(dir, 'ci'), '--junit', `${notADir}/j.xml`], /cannot write --junit file/],
];

describe('bad input: one line naming the problem, exit 2, no stack trace, no partial file', () => {
  it(`has at least 40 cases (${TABLE.length})`, () => expect(TABLE.length).toBeGreaterThanOrEqual(40));
  it.each(TABLE)('%s', async (_what, args, line) => {
    const r = await cli(args);
    expect(r.code, r.err + r.out).toBe(2);
    expect(r.out).toBe('');
    const lines = r.err.trimEnd().split('\n');
    expect(lines, r.err).toHaveLength(1);
    expect(lines[0]).toMatch(/^tlbcheck: /);
    expect(lines[0]).toMatch(line);
    expect(r.err).not.toMatch(/\n\s+at |internal error/);
  });
  it('left no probe or temporary file behind', () => {
    expect(readdirSync(dir).filter((f) => /tlbcheck-probe|\.tmp-\d+$/.test(f))).toEqual([]);
  });
});
