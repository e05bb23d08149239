/**
 * `--liveness`: the model's liveness properties (Machine.liveness) under its
 * fairness (Machine.fairness), on the explicit graph of every reachable
 * state (graph.ts, liveness.ts). One property per argument tuple of its
 * `over`; a violation is a lasso, reported as a Violation of kind
 * 'liveness' whose trace repeats from `loopStart` on.
 */
import type { Violation } from './check.js';
import { ModelError, type CompiledModel } from './compile.js';
import { errText } from './explore.js';
import { buildGraph, type GraphLimit, type GraphLimits } from './graph.js';
import { lassoFault, livenessCases } from './lasso.js';
import { leadsTo } from './liveness.js';
import { replayInstances } from './trace.js';

export interface LivenessOutcome {
  /** The properties checked, one per case: `name` or `name(args)`. */
  readonly checked: readonly string[];
  readonly violations: Violation[];
  readonly states: number;
  readonly transitions: number;
  readonly elapsedMs: number;
  /** The graph was not complete: nothing was decided. */
  readonly limit?: GraphLimit;
}


export function checkLiveness(model: CompiledModel, lim: GraphLimits & { properties?: readonly string[] } = {}): LivenessOutcome {
  const t0 = performance.now();
  const props = lim.properties?.length ? model.liveness.filter((l) => lim.properties!.includes(l.name)) : model.liveness;
  const cases = livenessCases(props);
  const checked = cases.map((c) => c.label);
  let built;
  try {
    built = buildGraph(model, lim);
  } catch (e) {
    if (e instanceof ModelError) throw e;
    throw new ModelError(`model threw ${errText(e)} while building the state graph for --liveness (run without --liveness for the failing state)`);
  }
  const { graph: g, limit } = built;
  const base = { checked, states: g.n, transitions: g.succ.length };
  if (limit) return { ...base, violations: [], elapsedMs: performance.now() - t0, limit };
  const { layout } = model;
  const view = layout.makeView();
  const violations: Violation[] = [];
  for (const { p, args, label } of cases) {
    const pred = (f: (s: never, ...a: number[]) => boolean, what: string) => (id: number) => {
      layout.unpack(g.words, id * g.W, view);
      try {
        return Boolean(f(view as never, ...args));
      } catch (e) {
        throw new ModelError(`liveness property ${label}: ${what}() threw ${errText(e)}; state: ${JSON.stringify(layout.toPlain(view))}`);
      }
    };
    const isTo = pred(p.to, 'to');
    const isFrom = p.from ? pred(p.from, 'from') : (id: number) => id === 0;
    const lasso = leadsTo(g, model.fairness, isFrom, isTo);
    if (!lasso) continue;
    // Checked on its own, by replaying it (lasso.ts): a lasso that does not show the failure is a bug here, never a verdict.
    const fault = lassoFault(model, label, lasso.path, lasso.loopStart);
    if (fault) throw new Error(`internal error: the liveness counterexample for ${label} does not check: ${fault}`);
    const { steps } = replayInstances(model, lasso.path);
    const cycle = steps.length - 1 - lasso.loopStart;
    violations.push({
      invariant: label,
      kind: 'liveness',
      reason: `${p.doc?.split('\n')[0] ?? `${label} holds`}: never ${p.from ? `after step ${lasso.fromAt}` : 'in this run'}; ${cycle === 1 ? 'the last step repeats forever' : cycle ? `the last ${cycle} steps repeat forever` : 'the run stays in the last state forever (no step is enabled)'}, and that is a fair behaviour`,
      trace: steps,
      loopStart: lasso.loopStart,
    });
  }
  return { ...base, violations, elapsedMs: performance.now() - t0 };
}
