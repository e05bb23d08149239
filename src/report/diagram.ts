/**
 * The race diagram: the default text form of a counterexample, drawn the way
 * kernel developers draw races on the mailing list — one column per CPU,
 * time going down, one row per step, each step the model's kernel-vocabulary
 * phrase — followed by one line naming the broken invariant and why it fails
 * in the last state. A liveness counterexample is a lasso: rules mark where
 * its loop starts and ends.
 *
 *        CPU0                               │ CPU1
 *   ──── ────────────────────────────────── ┼ ──────────────────────────────────
 *      1 walk va0 → TLB = v0                │
 *      2                                    │ PTE va0: v0 → v1; send flush IPI
 *      ...
 *   ✗ no-stale-access: CPU0 can still use va0 → v0 although ...
 *
 * Only CPUs that act in the trace get a column; steps whose action names no
 * CPU go to a "—" column on the right. Every line fits in `width` columns
 * (default 100): phrases wrap inside their column, and when there are so
 * many CPUs that columns would get narrower than MIN_COL, a phrase starts in
 * its CPU's column and runs on to the end of the line (the other CPUs are
 * idle during that step anyway).
 */
import type { TraceStep } from '../engine/trace.js';

export interface DiagramViolation {
  readonly invariant: string;
  readonly kind: 'invariant' | 'deadlock' | 'liveness';
  readonly reason: string;
  readonly trace: readonly TraceStep[];
  /** A lasso (liveness): the steps after trace[loopStart] repeat forever. */
  readonly loopStart?: number;
}

export interface DiagramOptions {
  /** Line width (default 100). */
  width?: number;
  /** Step numbers to print for trace[1..] (default 1..n); a slice keeps the original numbers. */
  stepNumbers?: readonly number[];
  /** Replaces the default head line. */
  title?: string;
  /** Per step (trace[1..]): an extra dim line, e.g. the variables it changed. */
  notes?: readonly (string | undefined)[];
}

const MIN_COL = 22;
const SEP = ' │ ';

/** Display width: code points (the arrows and box characters used here are all one column wide). */
export function textWidth(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

function padEnd(s: string, w: number): string {
  const d = w - textWidth(s);
  return d > 0 ? s + ' '.repeat(d) : s;
}

/** Greedy word wrap to `w` columns; words longer than a line are cut. */
export function wrap(text: string, w: number): string[] {
  const width = Math.max(1, w);
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word0 of para.split(/\s+/).filter((x) => x.length)) {
      let word = word0;
      while (textWidth(word) > width) {
        if (line) {
          out.push(line);
          line = '';
        }
        const cps = [...word];
        out.push(cps.slice(0, width).join(''));
        word = cps.slice(width).join('');
      }
      if (!word) continue;
      if (!line) line = word;
      else if (textWidth(line) + 1 + textWidth(word) <= width) line += ' ' + word;
      else {
        out.push(line);
        line = word;
      }
    }
    out.push(line);
  }
  return out.length ? out : [''];
}

export interface Lane {
  readonly key: number | undefined;
  readonly label: string;
}

/** The columns of a trace: acting CPUs in order, then "—" if some step names no CPU. */
export function lanesOf(trace: readonly TraceStep[]): Lane[] {
  const cpus = new Set<number>();
  let global = false;
  trace.forEach((st, i) => {
    if (i === 0) return;
    if (st.cpu === undefined || st.cpu === null) global = true;
    else cpus.add(st.cpu);
  });
  const lanes: Lane[] = [...cpus].sort((a, b) => a - b).map((c) => ({ key: c, label: `CPU${c}` }));
  if (global || lanes.length === 0) lanes.push({ key: undefined, label: '—' });
  return lanes;
}

export function violationHead(v: DiagramViolation, steps = v.trace.length - 1): string {
  const n = `${steps} step${steps === 1 ? '' : 's'}`;
  if (v.kind === 'liveness' && v.loopStart !== undefined) {
    const cycle = v.trace.length - 1 - v.loopStart;
    return `${v.invariant} violated: ${v.loopStart} step${v.loopStart === 1 ? '' : 's'}, then ${cycle ? `a loop of ${cycle} step${cycle === 1 ? '' : 's'} repeated forever` : 'stuck forever'}:`;
  }
  return v.kind === 'deadlock' ? `deadlock after ${n}:` : `${v.invariant} violated after ${n}:`;
}

export function raceDiagram(v: DiagramViolation, opts: DiagramOptions = {}): string {
  const width = Math.max(40, opts.width ?? 100);
  const steps = v.trace.slice(1);
  const nums = opts.stepNumbers ?? steps.map((_, i) => i + 1);
  const numW = Math.max(3, ...nums.map((n) => String(n).length));
  const lanes = lanesOf(v.trace);
  const prefixW = numW + 1;
  const avail = width - prefixW - SEP.length * (lanes.length - 1);
  const colW = Math.floor(avail / lanes.length);
  const overflow = colW < MIN_COL;
  const laneIndex = (cpu: number | undefined | null) => {
    const k = lanes.findIndex((l) => l.key === (cpu ?? undefined));
    return k >= 0 ? k : lanes.length - 1;
  };
  const colStart = (k: number) => prefixW + k * (colW + SEP.length);

  const lines: string[] = [opts.title ?? violationHead(v)];
  const row = (num: string, cells: string[]): string => {
    let s = padEnd(num, numW) + ' ';
    cells.forEach((c, k) => {
      s += k < cells.length - 1 ? padEnd(c, colW) + SEP : c;
    });
    return s.trimEnd();
  };
  const empty = lanes.map(() => '');
  lines.push(row('', lanes.map((l) => l.label)));
  lines.push(
    (padEnd('', numW) + ' ' + lanes.map(() => '─'.repeat(colW)).join('─┼─')).trimEnd(),
  );

  const loop = v.kind === 'liveness' ? v.loopStart : undefined;
  const rule = (text: string) => lines.push(`${' '.repeat(numW)} ┄┄┄ ${text} ┄┄┄`);
  steps.forEach((st, i) => {
    if (i === loop) rule(i === steps.length - 1 ? `loop: step ${nums[i]} repeats forever` : `loop: steps ${nums[i]}–${nums[steps.length - 1]} repeat forever`);
    const k = laneIndex(st.cpu);
    const textW = overflow ? width - colStart(k) : colW;
    const chunks = wrap(st.description || `${st.action}(${st.args.join(',')})`, textW);
    const note = opts.notes?.[i];
    if (note) for (const l of wrap(`· ${note}`, textW)) chunks.push(l);
    chunks.forEach((chunk, j) => {
      const num = j === 0 ? String(nums[i]).padStart(numW) : '';
      if (!overflow || k === lanes.length - 1) {
        const cells = [...empty];
        cells[k] = chunk;
        lines.push(row(num, cells));
      } else {
        // Lanes left of the actor keep their rule; the phrase runs to the end of the line.
        const cells = empty.slice(0, k + 1);
        cells[k] = chunk;
        lines.push(row(num, cells));
      }
    });
  });
  if (loop !== undefined) rule(loop < steps.length ? `back to the state after step ${loop}` : 'stays in this state forever: no step is enabled');
  lines.push('');
  const mark = v.kind === 'deadlock' ? '✗ deadlock: ' : `✗ ${v.invariant}: `;
  wrap(v.reason, width - textWidth(mark)).forEach((l, j) => lines.push((j === 0 ? mark : ' '.repeat(textWidth(mark))) + l));
  return lines.join('\n');
}
