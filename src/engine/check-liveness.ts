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
import { buildGraph, type GraphLimit, type GraphLimits, type StateGraph } from './graph.js';
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
  /** The graph was not complete, and some property has no counterexample on the part built: it is not decided. */
  readonly limit?: GraphLimit;
  /** Every property had a counterexample on the first `states` states: the rest of the graph was not built. */
  readonly early?: true;
}


/** A lasso that failed its own check: a defect of this checker, not of the model. */
class LassoCheckError extends Error {}

export function checkLiveness(model: CompiledModel, lim: GraphLimits & { properties?: readonly string[]; fingerprint?: boolean } = {}): LivenessOutcome {
  const t0 = performance.now();
  const props = lim.properties?.length ? model.liveness.filter((l) => lim.properties!.includes(l.name)) : model.liveness;
  const cases = livenessCases(props);
  const checked = cases.map((c) => c.label);
  const { layout } = model;
  const view = layout.makeView();
  const found = new Map<string, Violation>();
  // What each case says of each state, computed once as the state is added: bit 0 `to`, bit 1 `from`.
  const C = cases.length;
  let marks = new Uint8Array(1024 * C);
  const label = (b: Uint32Array, bo: number, id: number) => {
    if ((id + 1) * C > marks.length) {
      const m = new Uint8Array(marks.length * 2);
      m.set(marks);
      marks = m;
    }
    layout.unpack(b, bo, view);
    for (let ci = 0; ci < C; ci++) {
      const { p } = cases[ci]!;
      marks[id * C + ci] = (holds(ci, p.to, 'to') ? 1 : 0) | (p.from && holds(ci, p.from, 'from') ? 2 : 0);
    }
  };
  /** Case ci's predicate f on the state in `view`. */
  const holds = (ci: number, f: (s: never, ...a: number[]) => boolean, what: string) => {
    try {
      return Boolean(f(view as never, ...cases[ci]!.args));
    } catch (e) {
      throw new ModelError(`liveness property ${cases[ci]!.label}: ${what}() threw ${errText(e)}; state: ${JSON.stringify(layout.toPlain(view))}`);
    }
  };
  /** Looks for a lasso of each case not violated yet, on g's first `expanded` states; true when every case has one. */
  const decide = (g: StateGraph, expanded: number): boolean => {
    for (let ci = 0; ci < C; ci++) {
      const { p, label } = cases[ci]!;
      if (found.has(label)) continue;
      const isTo = (id: number) => (marks[id * C + ci]! & 1) === 1;
      const isFrom = p.from ? (id: number) => (marks[id * C + ci]! & 2) === 2 : (id: number) => id === 0;
      let lasso;
      try {
        lasso = leadsTo(g, model.fairness, isFrom, isTo, expanded);
      } catch (e) {
        throw new LassoCheckError(`internal error: the liveness search for ${label}: ${errText(e)}`);
      }
      if (!lasso) continue;
      // Checked on its own, by replaying it (lasso.ts): a lasso that does not show the failure is a bug here, never a verdict.
      const fault = lassoFault(model, label, lasso.path, lasso.loopStart);
      if (fault)
        throw new LassoCheckError(
          lim.fingerprint
            ? `the liveness counterexample for ${label} does not replay (${fault}): two states probably had one fingerprint; run it again with --store exact`
            : `internal error: the liveness counterexample for ${label} does not check: ${fault}`,
        );
      const { steps } = replayInstances(model, lasso.path);
      const cycle = steps.length - 1 - lasso.loopStart;
      found.set(label, {
        invariant: label,
        kind: 'liveness',
        reason: `${p.doc?.split('\n')[0] ?? `${label} holds`}: never ${p.from ? `after step ${lasso.fromAt}` : 'in this run'}; ${cycle === 1 ? 'the last step repeats forever' : cycle ? `the last ${cycle} steps repeat forever` : 'the run stays in the last state forever (no step is enabled)'}, and that is a fair behaviour`,
        trace: steps,
        loopStart: lasso.loopStart,
      });
    }
    return C > 0 && found.size === C;
  };
  let built;
  try {
    built = buildGraph(model, { ...lim, label, onPrefix: decide, extraBytes: () => marks.byteLength });
    // The whole graph, or the part a states or memory limit left (a lasso there is a real one too); not past a deadline or Ctrl-C.
    if (!built.stopped && built.limit !== 'time-limit' && built.limit !== 'interrupted') decide(built.graph, built.expanded);
  } catch (e) {
    if (e instanceof ModelError || e instanceof LassoCheckError) throw e;
    throw new ModelError(`model threw ${errText(e)} while building the state graph for --liveness (run without --liveness for the failing state)`);
  }
  const { graph: g, expanded, limit } = built;
  // In case order, as the properties are declared.
  const violations = cases.flatMap((c) => found.get(c.label) ?? []);
  const undecided = limit && violations.length < cases.length;
  return {
    checked,
    violations,
    states: expanded,
    transitions: g.first[expanded]!,
    elapsedMs: performance.now() - t0,
    ...(undecided ? { limit } : {}),
    ...(built.stopped ? { early: true as const } : {}),
  };
}
