/**
 * `tlbcheck replay <trace.json> <model.ts>`: re-execute a recorded
 * counterexample against a (possibly changed) model and say whether it is
 * still a valid path — every action enabled where it is taken — and whether
 * its last state still violates the recorded invariant. This is what turns a
 * counterexample into a regression test: a fix makes the replay stop
 * violating (or stop being a path); an unrelated model change keeps it.
 *
 * Recorded states are compared too: a difference is reported (the model's
 * semantics changed under the trace) but does not by itself fail the replay.
 */
import { instantiate, type CompiledModel } from './engine/compile.js';
import type { ModelDef, ParamValueAny } from './engine/model.js';
import { lassoFault } from './engine/lasso.js';
import { changedPaths } from './engine/trace.js';
import type { StateDecl, View } from './engine/types.js';
import { raceDiagram } from './report/diagram.js';
import { readTrace } from './report/json.js';
import { exhibits, explainAt, instanceIdsOf, stepsOf, TraceError } from './report/slice.js';

export interface ReplayReport {
  readonly model: string;
  readonly params: Record<string, ParamValueAny>;
  readonly invariant: string;
  readonly kind: 'invariant' | 'deadlock' | 'liveness';
  /** A liveness trace: the step its loop starts after. */
  readonly loopStart: number | null;
  /** A liveness trace that no longer shows its property failing: why (lasso.ts). */
  readonly lassoFault: string | null;
  /** Steps after the initial state. */
  readonly steps: number;
  /** Every step's action exists and is enabled where it is taken. */
  readonly validPath: boolean;
  /** The first step that could not be taken, and why. */
  readonly failure: { readonly step: number; readonly action: string; readonly args: readonly number[]; readonly reason: string } | null;
  /** The last state still violates the recorded invariant (false when the path is not valid). */
  readonly stillViolates: boolean;
  /** Why it fails now (explain() in the replayed last state). */
  readonly reason: string | null;
  /** Invariants of the model violated in the replayed last state. */
  readonly violatedNow: readonly string[];
  /** First step whose replayed state differs from the recorded one, with the differing paths. */
  readonly stateDiff: { readonly step: number; readonly paths: readonly string[] } | null;
  /** valid && still violates: the counterexample reproduces. */
  readonly reproduces: boolean;
}

export function replayTrace(def: ModelDef, json: unknown, opts: { violation?: number } = {}): { report: ReplayReport; model: CompiledModel } {
  const t = readTrace(json, opts.violation ?? 0);
  if (t.model !== def.name) throw new TraceError(`the trace is of model ${t.model}, not ${def.name}`);
  const model = instantiate(def, t.params);
  const base = { model: t.model, params: model.params, invariant: t.invariant, kind: t.kind, loopStart: t.loopStart ?? null, steps: t.steps.length - 1 };

  let stateDiff: ReplayReport['stateDiff'] = null;
  const compare = (i: number, s: View<StateDecl>) => {
    const rec = t.steps[i]!.state;
    if (stateDiff || !rec) return;
    const paths = safeDiff(model, rec, model.layout.toPlain(s));
    if (paths.length) stateDiff = { step: i, paths };
  };

  let ids: number[];
  let failure: ReplayReport['failure'] = null;
  try {
    ids = instanceIdsOf(model, t.steps);
  } catch (e) {
    const m = /^step (\d+): (.*)$/.exec((e as Error).message);
    const step = m ? Number(m[1]) : 1;
    const st = t.steps[step]!;
    failure = { step, action: st.action, args: st.args, reason: m ? m[2]! : (e as Error).message };
    ids = [];
  }

  let s = model.initial();
  compare(0, s);
  if (!failure) {
    for (let i = 0; i < ids.length; i++) {
      const k = ids[i]!;
      const st = t.steps[i + 1]!;
      let en: boolean;
      try {
        en = model.enabled(s, k);
      } catch (e) {
        failure = { step: i + 1, action: st.action, args: st.args, reason: `its guard threw: ${(e as Error).message}` };
        break;
      }
      if (!en) {
        failure = { step: i + 1, action: st.action, args: st.args, reason: 'not enabled in the replayed state' };
        break;
      }
      try {
        s = model.apply(s, k);
      } catch (e) {
        failure = { step: i + 1, action: st.action, args: st.args, reason: `its effect threw: ${(e as Error).message}` };
        break;
      }
      compare(i + 1, s);
    }
  }
  const validPath = failure === null;
  // A lasso: the loop closes, is fair, and never meets the property's goal (lasso.ts).
  const lassoFaultNow = validPath && t.kind === 'liveness' ? (safeLassoFault(model, t.invariant, ids, t.loopStart ?? 0) ?? null) : null;
  const stillViolates = validPath && (t.kind === 'liveness' ? lassoFaultNow === null : exhibits(model, s, t));
  const violatedNow = validPath
    ? model.invariants.filter((inv) => {
        try {
          return !inv.holds(s);
        } catch {
          return true;
        }
      }).map((i) => i.name)
    : [];
  const report: ReplayReport = {
    ...base,
    validPath,
    failure,
    stillViolates,
    lassoFault: lassoFaultNow,
    reason: stillViolates ? (t.kind === 'liveness' ? t.reason : explainAt(model, s, t)) : null,
    violatedNow,
    stateDiff,
    reproduces: validPath && stillViolates,
  };
  return { report, model };
}

function safeLassoFault(model: CompiledModel, label: string, ids: readonly number[], loopStart: number): string | undefined {
  try {
    return lassoFault(model, label, ids, loopStart);
  } catch (e) {
    return `the model threw while checking the loop: ${(e as Error).message}`;
  }
}

function safeDiff(model: CompiledModel, a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  try {
    return changedPaths(model, a, b);
  } catch {
    return ['(recorded state does not have the model\'s shape)'];
  }
}

function fmtParams(p: Record<string, ParamValueAny>): string {
  return Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

/** Human-readable replay verdict; with the race diagram of the replayed trace when it reproduces. */
export function replayText(r: ReplayReport, model: CompiledModel, json: unknown, opts: { violation?: number } = {}): string {
  const lines = [`replay ${r.steps}-step trace of ${r.model} (${fmtParams(r.params)}) against the model`];
  if (r.failure) {
    lines.push(`✗ not a valid path any more: step ${r.failure.step} ${r.failure.action}(${r.failure.args.join(',')}): ${r.failure.reason}`);
  } else {
    lines.push(`✓ valid path: all ${r.steps} steps are enabled where they are taken`);
    if (r.stillViolates) {
      const t = readTrace(json, opts.violation ?? 0);
      const ids = instanceIdsOf(model, t.steps);
      lines.push('', raceDiagram({ invariant: r.invariant, kind: r.kind, reason: r.reason ?? '', trace: stepsOf(model, ids), loopStart: r.loopStart ?? undefined }), '');
      lines.push(r.kind === 'liveness' ? `✓ still violates ${r.invariant}: the loop closes, is fair, and never meets the goal` : `✓ still violates ${r.invariant}`);
    } else if (r.lassoFault) {
      lines.push(`✗ no longer violates ${r.invariant}: ${r.lassoFault}`);
    } else {
      lines.push(`✗ no longer violates ${r.invariant}${r.violatedNow.length ? ` (the last state violates ${r.violatedNow.join(', ')} instead)` : ''}`);
    }
  }
  if (r.stateDiff)
    lines.push(
      `note: from step ${r.stateDiff.step} on the replayed state differs from the recorded one (${r.stateDiff.paths.slice(0, 6).join(', ')}${r.stateDiff.paths.length > 6 ? ', …' : ''}): the model changed under this trace`,
    );
  lines.push(r.reproduces ? 'replay: reproduces' : 'replay: does not reproduce');
  return lines.join('\n');
}

/** The `replay` subcommand: exit 0 if the trace reproduces, 1 if not, 2 on unreadable input. */
export async function runReplay(
  traceFile: string,
  modelFile: string,
  flags: { json?: boolean; violation?: number },
  io: { out: (s: string) => void },
): Promise<number> {
  const { readFileSync, existsSync } = await import('node:fs');
  const { loadModel, UsageError } = await import('./load.js');
  if (!existsSync(traceFile)) throw new UsageError(`trace file not found: ${traceFile}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(traceFile, 'utf8'));
  } catch (e) {
    throw new UsageError(`${traceFile}: not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const def = await loadModel(modelFile);
  const violation = flags.violation !== undefined ? flags.violation - 1 : 0;
  const { report, model } = replayTrace(def, json, { violation });
  if (flags.json) io.out(JSON.stringify({ format: 'tlbcheck-replay', version: 1, trace: traceFile, modelFile, ...report }) + '\n');
  else io.out(replayText(report, model, json, { violation }) + '\n');
  return report.reproduces ? 0 : 1;
}
