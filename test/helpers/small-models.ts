/** Small models and error capture shared by the table tests (tabulate.test.ts, lazy-tables.test.ts). */
import { expect } from 'vitest';
import { checkCompiled } from '../../src/engine/check.ts';
import { ModelError, type CompiledModel } from '../../src/engine/compile.ts';
import { array, defineModel, int, machine, type ModelDef } from '../../src/index.ts';

/** A one-action model whose action is `act`, over 2 indices, with x: 0..3 per index unless `state` says otherwise. */
export const oneAction = (act: Record<string, unknown>, state: Record<string, unknown> = { x: array(2, int(0, 3)) }): ModelDef =>
  defineModel({
    name: 'one',
    description: 'one action',
    params: {},
    build: () => machine(state as never, { actions: { step: { over: [2], ...act } as never } }) as never,
  }) as ModelDef;

/** The ModelError message a check of `m` ends with. */
export function errorOf(m: CompiledModel, opts: object): string {
  try {
    checkCompiled(m, opts);
  } catch (e) {
    expect(e).toBeInstanceOf(ModelError);
    return (e as Error).message;
  }
  throw new Error('no error');
}
