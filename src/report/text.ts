/**
 * Plain text output: the summary line and a step-by-step trace that lists
 * the state variables each step changed.
 */
import type { CheckResult, Violation } from '../engine/check.js';
import type { CompiledModel } from '../engine/compile.js';
import { changedPaths, valueAt } from '../engine/trace.js';

export function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

export function summaryLine(r: CheckResult): string {
  const secs = (r.elapsedMs / 1000).toFixed(2);
  return (
    `${r.model}: ${fmtCount(r.states)} states, ${fmtCount(r.transitions)} transitions, depth ${r.depth}, ` +
    `${secs} s, ${fmtCount(Math.round(r.statesPerSec))} states/s, ${r.bytesPerState.toFixed(1)} bytes/state` +
    (r.symmetry.length ? ` (symmetry: ${r.symmetry.join(', ')}; states are orbit representatives)` : '')
  );
}

/** Fingerprint store: how likely the run missed a state (none for the exact store). */
export function storeLine(r: CheckResult): string | undefined {
  if (r.omissionProbability === undefined) return undefined;
  const p = r.omissionProbability;
  const txt = p === 0 ? '0' : p < 1e-3 ? p.toExponential(1) : p.toPrecision(2);
  return `fingerprint store: probability that a state was missed (64-bit fingerprint collision) ≈ ${txt}`;
}

export function verdictLine(r: CheckResult): string {
  switch (r.verdict) {
    case 'holds':
      return (
        `verdict: holds — ${r.invariants.length ? `${r.invariants.join(', ')} ${r.invariants.length === 1 ? 'holds' : 'hold'} in every reachable state` : 'no invariants checked'}, no deadlock` +
        (r.liveness?.checked.length ? `; ${r.liveness.checked.join(', ')} ${r.liveness.checked.length === 1 ? 'holds' : 'hold'} on every fair behaviour` : '')
      );
    case 'violated':
      return `verdict: violated — ${r.violations.map((v) => v.invariant).join(', ')}`;
    case 'incomplete':
      return `verdict: incomplete — ${r.limit === 'interrupted' ? 'interrupted by a signal' : `stopped by ${r.limit}`}; no violation among the ${fmtCount(r.states)} states explored`;
  }
}

function fmtValue(x: unknown): string {
  return typeof x === 'string' ? x : JSON.stringify(x);
}

/** One line per step: number, CPU, action(args), description, changed variables. */
export function stepList(model: CompiledModel, v: Violation): string[] {
  const lines: string[] = [];
  v.trace.forEach((st, i) => {
    if (i === 0) return;
    const prev = v.trace[i - 1]!.state;
    const changes = changedPaths(model, prev, st.state)
      .map((p) => `${p}=${fmtValue(valueAt(st.state, p, model))}`)
      .join(' ');
    const who = st.cpu === undefined ? '    ' : `CPU${st.cpu}`;
    lines.push(`${String(i).padStart(3)}. ${who} ${st.action}(${st.args.join(',')})  ${st.description}${changes ? `   [${changes}]` : ''}`);
  });
  return lines;
}

export function violationText(model: CompiledModel, v: Violation): string {
  const head = v.kind === 'deadlock' ? `deadlock after ${v.trace.length - 1} steps` : `${v.invariant} violated after ${v.trace.length - 1} steps`;
  return [head + ':', ...stepList(model, v), `  ✗ ${v.invariant}: ${v.reason}`].join('\n');
}
