import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import shootdown from '../models/bench/shootdown.js';
import { check } from '../src/vitest.js';

const dir = join('tmp', `vitest-helper-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('vitest helper: expect(await check(model, params)).toHold() / .toViolate(inv)', () => {
  it('passes on the expected verdicts', async () => {
    expect(await check(shootdown, { VARIANT: 'sync' })).toHold();
    expect(await check(shootdown, { VARIANT: 'async', NMI: 0 })).toHold();
    expect(await check(shootdown, { VARIANT: 'async', NMI: 1 })).toViolate('no-stale-access');
    expect(await check(shootdown, { VARIANT: 'async', NMI: 1 })).toViolate();
    expect(await check(shootdown, { VARIANT: 'async', NMI: 1 })).not.toHold();
    expect(await check(shootdown, { VARIANT: 'sync' })).not.toViolate();
  });

  it('accepts a model file path', async () => {
    expect(await check('models/bench/shootdown.ts', { VARIANT: 'async', NMI: 1 })).toViolate('no-stale-access');
  });

  it('a failing toHold() shows the race diagram', async () => {
    const r = await check(shootdown, { VARIANT: 'async', NMI: 1 });
    let msg = '';
    try {
      expect(r).toHold();
    } catch (e) {
      msg = (e as Error).message;
    }
    expect(msg).toContain('expected model shootdown (N=2 P=1 K=1 VARIANT=async NMI=1) to hold, but it does not:');
    expect(msg).toMatch(/CPU0\s+│ CPU1/);
    expect(msg).toContain('✗ no-stale-access: CPU0 can still use va0 → v0');
  });

  it('a failing toViolate() says what happened instead', async () => {
    const r = await check(shootdown, { VARIANT: 'sync' });
    expect(() => expect(r).toViolate('no-stale-access')).toThrow(
      'expected a violation of no-stale-access in model shootdown (N=2 P=1 K=1 VARIANT=sync NMI=0), but every invariant holds in all 28 reachable states',
    );
    const v = await check(shootdown, { VARIANT: 'async', NMI: 1 });
    expect(() => expect(v).toViolate('no-such-invariant')).toThrow(/but it violates no-stale-access/);
    expect(() => expect(v).not.toViolate('no-stale-access')).toThrow(/not to violate no-stale-access, but it does:\n\n[\s\S]*CPU0/);
    const cut = await check(shootdown, { VARIANT: 'sync' }, { maxStates: 3 });
    expect(() => expect(cut).toHold()).toThrow(/the run was incomplete \(stopped by max-states/);
    expect(() => expect(42).toHold()).toThrow(/expected the result of tlbcheck's check\(\)/);
  });

  it('toHold() fails on a vacuous invariant unless allowed', async () => {
    const file = join(dir, 'vac.ts');
    writeFileSync(
      file,
      `import { bool, defineModel, machine } from '../../src/index.js';
export default defineModel({ name: 'vac', description: 'vacuous', params: {},
  build: () => machine({ armed: bool() }, {
    actions: { idle: { guard: (s) => !s.armed, effect: () => {} } },
    invariants: { safe: { holds: () => true, premise: (s) => s.armed } },
  }) });
`,
    );
    const r = await check(file);
    expect(() => expect(r).toHold()).toThrow(/to hold non-vacuously, but:\n {2}invariant safe is vacuous/);
    expect(r).toHold({ allowVacuous: true });
  });
});
