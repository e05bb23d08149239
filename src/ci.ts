/**
 * `tlbcheck ci [glob...]`: the pull-request gate.
 *
 * Runs every model file matching the globs (default models/**\/*.ts) with
 * each parameter set of its `expect` block, compares the verdict with the
 * expectation, prints a table, writes reports/summary.md and
 * reports/summary.json (and JUnit XML with --junit), emits GitHub Actions
 * annotations when GITHUB_ACTIONS=true, and with --baseline reports what
 * changed since an earlier summary.json. Exit 1 on any mismatch (or, with
 * --strict, on any coverage/vacuity warning); 2 on usage errors.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { checkCompiledAsync, type CheckResult } from './engine/check.js';
import { MAX_WORKERS } from './engine/worker-threads.mjs';
import { livenessCases } from './engine/lasso.js';
import { instantiate, type CompiledModel } from './engine/compile.js';
import { ParamError, resolveParams, type ModelDef, type ParamValueAny, type RunOptionsOfRow } from './engine/model.js';
import { storeOptions } from './engine/explore.js';
import { loadModel, UsageError } from './load.js';
import { raceDiagram } from './report/diagram.js';
import { checkWritable, compactJson, writeFileMkdir } from './report/files.js';
import { traceDoc } from './report/json.js';

export interface CiFlags {
  junit?: string;
  /** SARIF 2.1.0 for code scanning: one result per expectation not met. */
  sarif?: string;
  baseline?: string;
  /** Report directory (default "reports"). */
  out?: string;
  timeLimit?: number;
  maxStates?: number;
  strict?: boolean;
  quiet?: boolean;
}

export interface CiIo {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
  env: Record<string, string | undefined>;
}

export interface CiRow {
  /** Model file, relative to the working directory, with forward slashes. */
  readonly file: string;
  readonly model: string;
  /** 1-based line of the expect row in the model file (for annotations). */
  readonly line: number;
  /** The expect row's parameters (what distinguishes the rows). */
  readonly params: Record<string, ParamValueAny>;
  /** The expect row's run options (symmetry, store, workers, maxStates), as given. */
  readonly options: RunOptionsOfRow;
  /** Every parameter, defaults included. */
  readonly allParams: Record<string, ParamValueAny>;
  readonly expected: 'holds' | 'violated';
  readonly expectedInvariant: string | null;
  readonly note: string | null;
  readonly got: 'holds' | 'violated' | 'incomplete' | 'error';
  /** Invariants found violated. */
  readonly violated: readonly string[];
  readonly states: number;
  readonly transitions: number;
  readonly depth: number;
  readonly elapsedMs: number;
  readonly limit: string | null;
  readonly warnings: readonly string[];
  readonly error: string | null;
  readonly ok: boolean;
  /** Why it is not ok (one line), null when ok. */
  readonly problem: string | null;
  /** Trace file written for a violation (relative path), if any. */
  readonly trace: string | null;
}

export interface CiSummary {
  readonly format: 'tlbcheck-ci-summary';
  readonly version: 1;
  readonly ok: boolean;
  readonly rows: readonly CiRow[];
  readonly mismatches: number;
  readonly warnings: number;
  /** Model files with no expect block (not gated). */
  readonly ungated: readonly string[];
  /** Files a glob matched that define no model (no defineModel call). */
  readonly skipped: readonly string[];
  /** Stopped by a signal: the rows after the last one listed did not run. */
  readonly interrupted: boolean;
  readonly elapsedMs: number;
}

// ------------------------------------------------------------------ globbing

const GLOB_CHARS = /[*?[{]/;

function globRegex(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        i++;
        if (glob[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((x) => x.replace(/[.+^$()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]*'))
          .join('|')})`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function walk(dir: string, out: string[]): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
}

const slash = (p: string) => p.split(sep).join('/');

/** Model files matching the patterns (files, directories, or globs with * ** ? {a,b}), sorted, de-duplicated. */
export function expandModels(patterns: readonly string[], cwd = process.cwd(), named?: Set<string>): string[] {
  const found = new Set<string>();
  for (const pat0 of patterns) {
    const pat = slash(pat0).replace(/^\.\//, '');
    if (!GLOB_CHARS.test(pat)) {
      const abs = resolve(cwd, pat);
      if (!existsSync(abs)) throw new UsageError(`no such model file or directory: ${pat0}`);
      if (statSync(abs).isDirectory()) {
        const files: string[] = [];
        walk(abs, files);
        for (const f of files) if (/\.[cm]?ts$/.test(f) && !f.endsWith('.d.ts')) found.add(slash(relative(cwd, f)));
      } else {
        found.add(slash(relative(cwd, abs)));
        named?.add(slash(relative(cwd, abs)));
      }
      continue;
    }
    const parts = pat.split('/');
    const fixed: string[] = [];
    for (const p of parts) {
      if (GLOB_CHARS.test(p)) break;
      fixed.push(p);
    }
    const root = resolve(cwd, fixed.join('/') || '.');
    if (!existsSync(root) || !statSync(root).isDirectory()) continue;
    const re = globRegex(pat.startsWith('/') ? slash(relative(cwd, pat)) : pat);
    const files: string[] = [];
    walk(root, files);
    for (const f of files) {
      const rel = slash(relative(cwd, f));
      if (re.test(rel) && !rel.endsWith('.d.ts')) found.add(rel);
    }
  }
  return [...found].sort();
}

// ------------------------------------------------------------------- running

function fmtParams(p: Record<string, ParamValueAny>): string {
  const s = Object.entries(p)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return s || '(defaults)';
}

/** 1-based line of the i-th expect row (the i-th `verdict:` after `expect`), else of `expect`, else 1. */
export function expectLine(text: string, i: number): number {
  const lineOf = (idx: number) => text.slice(0, idx).split('\n').length;
  const m = /\bexpect\s*:/.exec(text);
  if (!m) return 1;
  const re = /\bverdict\s*:/g;
  re.lastIndex = m.index;
  let hit: RegExpExecArray | null = null;
  for (let k = 0; k <= i; k++) {
    hit = re.exec(text);
    if (!hit) return lineOf(m.index);
  }
  return lineOf(hit!.index);
}

/**
 * reports/traces/<model>.<K=V>….json; <model> is the model file's path
 * (without .ts) instead when two files of the run define models of the same
 * name, so no row's trace overwrites another's.
 */
function traceName(model: string, params: Record<string, ParamValueAny>): string {
  const p = Object.entries(params)
    .map(([k, v]) => `.${k}=${v}`)
    .join('');
  return `${model}${p}`.replace(/[^A-Za-z0-9_.=-]+/g, '_') + '.json';
}

interface RunRow {
  row: CiRow;
  /** For failure messages: the race diagram of the violation found, if any. */
  diagram: string | null;
}

async function runRow(
  file: string,
  def: ModelDef,
  text: string,
  i: number,
  flags: CiFlags,
  outDir: string,
  traceStem: string,
  signal: AbortSignal,
): Promise<RunRow> {
  const exp = def.expect![i]!;
  const params = { ...(exp.params ?? {}) } as Record<string, ParamValueAny>;
  const options = exp.options ?? {};
  const base = {
    file,
    model: def.name,
    line: expectLine(text, i),
    params,
    options,
    expected: exp.verdict,
    expectedInvariant: exp.invariant ?? null,
    note: exp.note ?? null,
  };
  // The row's own options; the command line's --max-states is the tighter of the two.
  const maxStates = Math.min(flags.maxStates ?? Infinity, options.maxStates ?? Infinity);
  const limits = {
    timeLimitMs: flags.timeLimit !== undefined ? flags.timeLimit * 1000 : undefined,
    maxStates: maxStates === Infinity ? undefined : maxStates,
    symmetry: options.symmetry,
    ...storeOptions(options.store),
    workers: options.workers,
    liveness: options.liveness,
    source: { file: resolve(file) },
    signal,
  };
  let model: CompiledModel;
  let r: CheckResult;
  try {
    model = instantiate(def, params);
    r = await checkCompiledAsync(model, limits);
    // The first violation found may be of another invariant than the expected one: look for that one specifically.
    if (r.verdict === 'violated' && exp.invariant && !r.violations.some((v) => v.invariant === exp.invariant) && model.invariants.some((x) => x.name === exp.invariant)) {
      const only = instantiate(def, params, { invariants: [exp.invariant] });
      const r2 = await checkCompiledAsync(only, limits);
      if (r2.verdict === 'violated') {
        model = only;
        r = { ...r2, violations: [...r2.violations, ...r.violations] };
      }
    }
    // An expected liveness failure behind a safety one: check both (liveness runs after the safety search).
    if (r.verdict === 'violated' && exp.invariant && options.liveness && !r.violations.some((v) => v.invariant === exp.invariant) && !r.liveness) {
      const r2 = await checkCompiledAsync(model, { ...limits, all: true });
      if (r2.verdict === 'violated') r = r2;
    }
  } catch (e) {
    const error = (e as Error).message.split('\n')[0]!;
    return {
      row: { ...base, allParams: params, got: 'error', violated: [], states: 0, transitions: 0, depth: 0, elapsedMs: 0, limit: null, warnings: [], error, ok: false, problem: `error: ${error}`, trace: null },
      diagram: null,
    };
  }
  const violated = [...new Set(r.violations.map((v) => v.invariant))];
  let problem: string | null = null;
  if (r.verdict !== exp.verdict) {
    problem =
      r.verdict === 'incomplete'
        ? `expected ${exp.verdict}, got incomplete (stopped by ${r.limit} after ${r.states} states)`
        : `expected ${exp.verdict}${exp.invariant ? ` (${exp.invariant})` : ''}, got ${r.verdict}${violated.length ? ` (${violated.join(', ')})` : ''}`;
  } else if (exp.verdict === 'violated' && exp.invariant && !violated.includes(exp.invariant)) {
    problem = `expected a violation of ${exp.invariant}, got a violation of ${violated.join(', ')}`;
  }
  let trace: string | null = null;
  let diagram: string | null = null;
  const v = r.violations.find((x) => x.invariant === exp.invariant) ?? r.violations[0];
  if (v) {
    trace = slash(join(outDir, 'traces', traceName(traceStem, params)));
    writeFileMkdir(trace, compactJson(traceDoc(model, v, { modelFile: file, warnings: r.warnings })) + '\n');
    diagram = raceDiagram(v);
  }
  return {
    row: {
      ...base,
      allParams: r.params,
      got: r.verdict,
      violated,
      states: r.states,
      transitions: r.transitions,
      depth: r.depth,
      elapsedMs: Math.round(r.elapsedMs),
      limit: r.limit ?? null,
      warnings: r.warnings,
      error: null,
      ok: problem === null && !(flags.strict && r.warnings.length > 0),
      problem: problem ?? (flags.strict && r.warnings.length ? `--strict: ${r.warnings.length} coverage/vacuity warning(s)` : null),
      trace,
    },
    diagram,
  };
}

// ------------------------------------------------------------------ baseline

export interface BaselineChange {
  readonly key: string;
  readonly text: string;
}

const sorted = (o: object) => JSON.stringify(Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
const rowKey = (r: Pick<CiRow, 'file' | 'params'> & { options?: RunOptionsOfRow }) =>
  `${r.file} ${sorted(r.params)}${fmtOptions(r.options) ? ` ${sorted(r.options ?? {})}` : ''}`;

const rowLabel = (r: Pick<CiRow, 'model' | 'params'> & { options?: RunOptionsOfRow }) =>
  `${r.model} (${fmtParams(r.params).replace(/^\((.*)\)$/, '$1')}${fmtOptions(r.options) ? `; ${fmtOptions(r.options)}` : ''})`;

/** "action a was never enabled" ×n → one line per row. */
function groupedWarnings(ws: readonly string[]): string[] {
  const never = ws.map((w) => /^action (\S+) was never enabled$/.exec(w)?.[1]).filter((x): x is string => x !== undefined);
  const rest = ws.filter((w) => !/^action \S+ was never enabled$/.test(w));
  return [...(never.length ? [`action${never.length > 1 ? 's' : ''} never enabled: ${never.join(', ')}`] : []), ...rest];
}

export function readBaseline(file: string): CiSummary {
  if (!existsSync(file)) throw new UsageError(`baseline not found: ${file}`);
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UsageError(`${file}: not valid JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const s = j as Partial<CiSummary>;
  if (s?.format !== 'tlbcheck-ci-summary' || !Array.isArray(s.rows)) throw new UsageError(`${file}: not a tlbcheck ci summary (reports/summary.json)`);
  if (s.version !== 1) throw new UsageError(`${file}: summary format version ${String(s.version)} is not supported`);
  return s as CiSummary;
}

/** What changed since the baseline: verdicts, state counts, rows added or removed. */
export function diffBaseline(base: CiSummary, now: readonly CiRow[]): BaselineChange[] {
  const out: BaselineChange[] = [];
  const old = new Map(base.rows.map((r) => [rowKey(r), r]));
  const seen = new Set<string>();
  for (const r of now) {
    const k = rowKey(r);
    seen.add(k);
    const b = old.get(k);
    if (!b) {
      out.push({ key: k, text: `new: ${rowLabel(r)} ${r.got}, ${r.states} states` });
      continue;
    }
    const parts: string[] = [];
    if (b.got !== r.got) parts.push(`verdict ${b.got} → ${r.got}`);
    if (b.states !== r.states) {
      const pct = b.states ? ` (${r.states > b.states ? '+' : ''}${(((r.states - b.states) / b.states) * 100).toFixed(1)}%)` : '';
      parts.push(`states ${b.states} → ${r.states}${pct}`);
    }
    if (b.ok !== r.ok) parts.push(r.ok ? 'now matches its expectation' : 'no longer matches its expectation');
    if (parts.length) out.push({ key: k, text: `${rowLabel(r)}: ${parts.join(', ')}` });
  }
  for (const [k, b] of old) if (!seen.has(k)) out.push({ key: k, text: `removed: ${rowLabel(b)} (was ${b.got}, ${b.states} states)` });
  return out;
}

// ------------------------------------------------------------------- outputs

function fmtTime(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function gotText(r: CiRow): string {
  if (r.got === 'violated') return `violated (${r.violated.join(', ')})`;
  if (r.got === 'incomplete') return `incomplete (${r.limit})`;
  return r.got;
}

function expText(r: CiRow): string {
  return r.expected === 'violated' && r.expectedInvariant ? `violated (${r.expectedInvariant})` : r.expected;
}

/** "symmetry=cpu workers=2": a row's run options, for the table ('' when none). */
export function fmtOptions(o: RunOptionsOfRow | undefined): string {
  return Object.entries(o ?? {})
    .map(([k, v]) => `${k}=${String(v)}`)
    .join(' ');
}

const paramsCell = (r: CiRow) => fmtParams(r.params) + (fmtOptions(r.options) ? ` [${fmtOptions(r.options)}]` : '');

function tableRows(rows: readonly CiRow[]): string[][] {
  return rows.map((r) => [r.ok ? 'ok' : 'FAIL', r.model, paramsCell(r), expText(r), gotText(r), r.states.toLocaleString('en-US'), fmtTime(r.elapsedMs)]);
}

const HEAD = ['', 'model', 'parameters', 'expected', 'got', 'states', 'time'];

export function textTable(rows: readonly CiRow[]): string {
  const body = tableRows(rows);
  const w = HEAD.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 5 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join('  ').trimEnd();
  return [line(HEAD), w.map((n) => '─'.repeat(n)).join('  '), ...body.map(line)].join('\n');
}

const mdCell = (s: string) => s.replace(/\|/g, '\\|');

export function markdownSummary(s: CiSummary, changes: readonly BaselineChange[] | null): string {
  const out: string[] = [
    '# tlbcheck ci',
    '',
    s.interrupted
      ? `**Interrupted** after ${s.rows.length} expectations (${s.mismatches} not met).`
      : s.ok
        ? `**All ${s.rows.length} expectations met.**`
        : `**${s.mismatches} of ${s.rows.length} expectations not met.**`,
    '',
    `| | ${HEAD.slice(1).join(' | ')} |`,
    `|---|${HEAD.slice(1).map((_, i) => (i >= 4 ? '---:' : '---')).join('|')}|`,
    ...tableRows(s.rows).map((c) => `| ${c.map((x, i) => (i === 0 ? (x === 'ok' ? '✅' : '❌') : mdCell(x))).join(' | ')} |`),
  ];
  const bad = s.rows.filter((r) => !r.ok);
  if (bad.length) {
    out.push('', '## Mismatches', '');
    for (const r of bad) out.push(`- \`${r.file}:${r.line}\` ${mdCell(rowLabel(r))}: ${r.problem}${r.trace ? ` — trace \`${r.trace}\`` : ''}`);
  }
  const warned = s.rows.filter((r) => r.warnings.length);
  if (warned.length || s.ungated.length || s.skipped.length) {
    out.push('', '## Warnings', '');
    for (const r of warned) for (const w of groupedWarnings(r.warnings)) out.push(`- ${mdCell(rowLabel(r))}: ${w}`);
    for (const f of s.ungated) out.push(`- \`${f}\`: no \`expect\` block, not gated`);
    for (const f of s.skipped) out.push(`- \`${f}\`: skipped, no \`defineModel\` call (not a model file)`);
  }
  if (changes) {
    out.push('', '## Changes since baseline', '');
    if (changes.length === 0) out.push('No changes in verdicts or state counts.');
    for (const c of changes) out.push(`- ${mdCell(c.text)}`);
  }
  return out.join('\n') + '\n';
}

const xml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, '');

export function junitXml(s: CiSummary, diagrams: ReadonlyMap<CiRow, string | null>): string {
  const byFile = new Map<string, CiRow[]>();
  for (const r of s.rows) byFile.set(r.file, [...(byFile.get(r.file) ?? []), r]);
  const fail = (rs: CiRow[]) => rs.filter((r) => !r.ok && r.got !== 'error').length;
  const err = (rs: CiRow[]) => rs.filter((r) => r.got === 'error').length;
  const secs = (ms: number) => (ms / 1000).toFixed(3);
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="tlbcheck ci" tests="${s.rows.length}" failures="${fail([...s.rows])}" errors="${err([...s.rows])}" time="${secs(s.elapsedMs)}">`,
  ];
  for (const [file, rs] of byFile) {
    const t = rs.reduce((a, r) => a + r.elapsedMs, 0);
    out.push(`  <testsuite name="${xml(rs[0]!.model)}" file="${xml(file)}" tests="${rs.length}" failures="${fail(rs)}" errors="${err(rs)}" time="${secs(t)}">`);
    for (const r of rs) {
      out.push(`    <testcase classname="tlbcheck.${xml(r.model)}" name="${xml(`${paramsCell(r)}: ${expText(r)}`)}" file="${xml(file)}" line="${r.line}" time="${secs(r.elapsedMs)}">`);
      if (r.got === 'error') out.push(`      <error message="${xml(r.problem ?? '')}" type="model-error">${xml(r.error ?? '')}</error>`);
      else if (!r.ok) {
        const d = diagrams.get(r);
        out.push(`      <failure message="${xml(r.problem ?? '')}" type="verdict-mismatch">${xml(`${r.problem}\n${d ? `\n${d}\n` : ''}`)}</failure>`);
      }
      const sys = [`states ${r.states}, transitions ${r.transitions}, depth ${r.depth}`, ...r.warnings.map((w) => `warning: ${w}`)];
      out.push(`      <system-out>${xml(sys.join('\n'))}</system-out>`);
      out.push('    </testcase>');
    }
    out.push('  </testsuite>');
  }
  out.push('</testsuites>');
  return out.join('\n') + '\n';
}

/**
 * SARIF 2.1.0 (OASIS): one result per expectation not met, located at the
 * model file's expect row, so code scanning shows it on the pull request.
 * Rules: tlbcheck/verdict-mismatch, tlbcheck/incomplete, tlbcheck/model-error.
 */
export function sarifLog(s: CiSummary): Record<string, unknown> {
  const rules = [
    { id: 'tlbcheck/verdict-mismatch', shortDescription: { text: 'A model run did not give the verdict its expect row states' } },
    { id: 'tlbcheck/incomplete', shortDescription: { text: 'A model run stopped at a limit before it could give a verdict' } },
    { id: 'tlbcheck/model-error', shortDescription: { text: 'A model could not be loaded, built or run' } },
  ];
  const ruleOf = (r: CiRow) => (r.got === 'error' ? 2 : r.got === 'incomplete' ? 1 : 0);
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: { driver: { name: 'tlbcheck', informationUri: 'https://github.com/tlbcheck/tlbcheck', rules } },
        results: s.rows
          .filter((r) => !r.ok)
          .map((r) => ({
            ruleId: rules[ruleOf(r)]!.id,
            ruleIndex: ruleOf(r),
            level: 'error',
            message: { text: `${rowLabel(r)}: ${r.problem}${r.trace ? ` (trace: ${r.trace})` : ''}` },
            locations: [{ physicalLocation: { artifactLocation: { uri: r.file }, region: { startLine: r.line } } }],
            partialFingerprints: { expectRow: rowKey(r) },
          })),
      },
    ],
  };
}

const ghData = (s: string) => s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
const ghProp = (s: string) => ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');

export function githubAnnotations(s: CiSummary): string[] {
  const out: string[] = [];
  for (const r of s.rows) {
    if (!r.ok) out.push(`::error file=${ghProp(r.file)},line=${r.line},title=${ghProp(`tlbcheck: ${r.model}`)}::${ghData(`${rowLabel(r)}: ${r.problem}`)}`);
    for (const w of r.warnings) out.push(`::warning file=${ghProp(r.file)},line=${r.line},title=${ghProp(`tlbcheck: ${r.model}`)}::${ghData(`${rowLabel(r)}: ${w}`)}`);
  }
  for (const f of s.ungated) out.push(`::warning file=${ghProp(f)},title=tlbcheck::${ghData('model has no expect block: not gated by tlbcheck ci')}`);
  return out;
}

// ------------------------------------------------------------------- command

interface Gated {
  file: string;
  text: string;
  def: ModelDef;
}

/**
 * Problems with the gate itself rather than with a model's verdict: an
 * expect row naming a parameter or invariant the model does not have. They
 * fail the gate before anything runs (exit 2), one line each.
 */
function expectProblems(g: Gated): string[] {
  const out: string[] = [];
  g.def.expect!.forEach((exp, i) => {
    const at = `${g.file}:${expectLine(g.text, i)}`;
    let model: CompiledModel;
    try {
      resolveParams(g.def, (exp.params ?? {}) as Record<string, ParamValueAny>);
    } catch (e) {
      if (e instanceof ParamError) out.push(`${at}: expect row ${i + 1}: ${e.message}`);
      return;
    }
    for (const p of optionProblems(exp.options)) out.push(`${at}: expect row ${i + 1}: ${p}`);
    if (exp.verdict !== 'holds' && exp.verdict !== 'violated')
      out.push(`${at}: expect row ${i + 1}: verdict must be 'holds' or 'violated', got ${JSON.stringify(exp.verdict)}`);
    if (exp.invariant === undefined || exp.invariant === 'deadlock') return;
    try {
      model = instantiate(g.def, (exp.params ?? {}) as Record<string, ParamValueAny>);
    } catch {
      return; // a build error: the row runs and reports it
    }
    const names = model.invariants.map((x) => x.name);
    const live = livenessCases(model.liveness).map((c) => c.label);
    if (live.includes(exp.invariant)) {
      if (!exp.options?.liveness) out.push(`${at}: expect row ${i + 1}: ${exp.invariant} is a liveness property: the row needs options: { liveness: true }`);
    } else if (!names.includes(exp.invariant))
      out.push(`${at}: expect row ${i + 1}: unknown invariant ${exp.invariant} (the model has ${[...names, ...live, 'deadlock'].join(', ')})`);
  });
  return out;
}

const OPTION_CHECKS: Record<keyof RunOptionsOfRow, (v: unknown) => boolean> = {
  symmetry: (v) => v === 'none' || v === 'cpu' || v === 'all',
  store: (v) => v === 'exact' || v === 'compact' || v === 'fingerprint',
  workers: (v) => Number.isInteger(v) && (v as number) >= 1 && (v as number) <= MAX_WORKERS,
  maxStates: (v) => Number.isInteger(v) && (v as number) >= 1,
  liveness: (v) => typeof v === 'boolean',
};

function optionProblems(o: unknown): string[] {
  if (o === undefined) return [];
  if (typeof o !== 'object' || o === null) return ['options must be an object'];
  const out: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const ok = OPTION_CHECKS[k as keyof RunOptionsOfRow];
    if (!ok) out.push(`unknown run option ${k} (known: ${Object.keys(OPTION_CHECKS).join(', ')})`);
    else if (!ok(v)) out.push(`run option ${k}: ${JSON.stringify(v)} is not valid`);
  }
  const r = o as RunOptionsOfRow;
  if (r.store === 'compact' && (r.workers ?? 1) > 1) out.push('run option store: compact runs on one thread (workers must be 1)');
  return out;
}

export async function runCi(patterns: readonly string[], flags: CiFlags, io: CiIo, signal?: AbortSignal): Promise<number> {
  const t0 = performance.now();
  const outDir = flags.out ?? 'reports';
  const baseline = flags.baseline ? readBaseline(flags.baseline) : null; // read before summary.json is overwritten
  const named = new Set<string>();
  const files = expandModels(patterns.length ? patterns : ['models/**/*.ts'], process.cwd(), named);
  if (files.length === 0) throw new UsageError(`no model files match ${patterns.length ? patterns.join(' ') : 'models/**/*.ts'}`);
  const stop = signal ?? new AbortController().signal;
  // Report paths are checked before any model runs.
  checkWritable(join(outDir, 'summary.json'), 'ci report directory');
  if (flags.junit) checkWritable(flags.junit, '--junit file');
  if (flags.sarif) checkWritable(flags.sarif, '--sarif file');

  const rows: CiRow[] = [];
  const diagrams = new Map<CiRow, string | null>();
  const ungated: string[] = [];
  /** Files a glob matched that do not define a model (helper modules): listed, never silently dropped. */
  const skipped: string[] = [];
  const gated: Gated[] = [];
  const status = (s: string) => {
    if (io.isTTY && !flags.quiet) io.err(`\r\x1b[K${s}`);
  };
  const errorRow = (file: string, error: string): CiRow => ({
    file, model: file.replace(/^.*\//, '').replace(/\.[cm]?[tj]s$/, ''), line: 1, params: {}, options: {}, allParams: {}, expected: 'holds', expectedInvariant: null, note: null,
    got: 'error', violated: [], states: 0, transitions: 0, depth: 0, elapsedMs: 0, limit: null, warnings: [], error, ok: false, problem: `error: ${error}`, trace: null,
  });
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    if (!named.has(file) && !/\bdefineModel\s*\(/.test(text)) {
      skipped.push(file);
      continue;
    }
    let def: ModelDef;
    try {
      def = await loadModel(file);
    } catch (e) {
      // A file named on the command line must be a model.
      if (named.has(file)) throw e;
      const row = errorRow(file, (e as Error).message.split('\n')[0]!);
      rows.push(row);
      diagrams.set(row, null);
      continue;
    }
    if (!def.expect?.length) ungated.push(file);
    else gated.push({ file, text, def });
  }
  const problems = gated.flatMap(expectProblems);
  if (problems.length) {
    for (const p of problems.slice(0, -1)) io.err(`tlbcheck: ${p}\n`);
    throw new UsageError(problems[problems.length - 1]!);
  }
  const expectations = gated.reduce((a, g) => a + g.def.expect!.length, 0);
  if (expectations === 0 && rows.length === 0)
    throw new UsageError(
      `nothing to gate: ${files.length} file${files.length === 1 ? '' : 's'} matched, ` +
        `${ungated.length ? `${ungated.length} model${ungated.length === 1 ? '' : 's'} without an expect block` : 'no models'}` +
        `${skipped.length ? `, ${skipped.length} skipped (no defineModel call)` : ''}`,
    );
  // Two files defining models of the same name: their traces are named by file.
  const byName = new Map<string, number>();
  for (const g of gated) byName.set(g.def.name, (byName.get(g.def.name) ?? 0) + 1);
  const stemOf = (g: Gated) => ((byName.get(g.def.name) ?? 0) > 1 ? g.file.replace(/\.[cm]?[tj]s$/, '') : g.def.name);

  let interrupted = false;
  run: for (const g of gated) {
    for (let i = 0; i < g.def.expect!.length; i++) {
      if (stop.aborted) {
        interrupted = true;
        break run;
      }
      status(`tlbcheck ci: ${g.def.name} (${fmtParams((g.def.expect![i]!.params ?? {}) as Record<string, ParamValueAny>)}) …`);
      const { row, diagram } = await runRow(g.file, g.def, g.text, i, flags, outDir, stemOf(g), stop);
      rows.push(row);
      diagrams.set(row, diagram);
      if (row.limit === 'interrupted') {
        interrupted = true;
        break run;
      }
    }
  }
  status('');
  if (io.isTTY && !flags.quiet) io.err('\r\x1b[K');

  const summary: CiSummary = {
    format: 'tlbcheck-ci-summary',
    version: 1,
    ok: rows.every((r) => r.ok),
    rows,
    mismatches: rows.filter((r) => !r.ok).length,
    warnings: rows.reduce((a, r) => a + r.warnings.length, 0) + ungated.length,
    ungated,
    skipped,
    interrupted,
    elapsedMs: Math.round(performance.now() - t0),
  };
  const changes = baseline ? diffBaseline(baseline, rows) : null;

  const out: string[] = [textTable(rows)];
  for (const r of rows.filter((x) => !x.ok)) {
    out.push('', `✗ ${r.file}:${r.line} ${rowLabel(r)}: ${r.problem}`);
    const d = diagrams.get(r);
    if (d && r.got === 'violated' && r.expected === 'holds') out.push('', d);
    if (r.trace) out.push(`  trace: ${r.trace}  (tlbcheck replay ${r.trace} ${r.file})`);
  }
  if (!flags.quiet) {
    const warns = rows.flatMap((r) => groupedWarnings(r.warnings).map((w) => `warning: ${rowLabel(r)}: ${w}`));
    for (const f of ungated) warns.push(`warning: ${f}: no expect block, not gated`);
    if (warns.length) out.push('', ...warns);
  }
  // Never dropped by --quiet: a file the gate did not look at.
  for (const f of skipped) out.push(`skipped: ${f} (no defineModel call: not a model file)`);
  if (changes) {
    out.push('', changes.length ? 'changes since baseline:' : 'no changes since baseline in verdicts or state counts');
    for (const c of changes) out.push(`  ${c.text}`);
  }
  out.push(
    '',
    interrupted
      ? `ci: INTERRUPTED — ${rows.length} of ${expectations} expectations ran, ${summary.mismatches} not met`
      : summary.ok
        ? `ci: ok — ${rows.length} expectation${rows.length === 1 ? '' : 's'} met (${fmtTime(summary.elapsedMs)})`
        : `ci: FAILED — ${summary.mismatches} of ${rows.length} expectations not met`,
  );
  io.out(out.join('\n') + '\n');

  // One report that cannot be written costs neither the others nor the verdict.
  const md = markdownSummary(summary, changes);
  let writeFailed = false;
  const write = (f: string, text: () => string) => {
    try {
      writeFileMkdir(f, text());
    } catch (e) {
      writeFailed = true;
      io.err(`tlbcheck: ${(e as Error).message}\n`);
    }
  };
  write(join(outDir, 'summary.md'), () => md);
  write(join(outDir, 'summary.json'), () => JSON.stringify(summary, null, 2) + '\n');
  if (flags.junit) write(flags.junit, () => junitXml(summary, diagrams));
  if (flags.sarif) write(flags.sarif, () => JSON.stringify(sarifLog(summary), null, 2) + '\n');
  if (io.env.GITHUB_ACTIONS === 'true') {
    for (const a of githubAnnotations(summary)) io.out(a + '\n');
    const stepSummary = io.env.GITHUB_STEP_SUMMARY;
    if (stepSummary) {
      const { appendFileSync } = await import('node:fs');
      try {
        appendFileSync(stepSummary, md);
      } catch {
        /* not fatal */
      }
    }
  }
  if (interrupted) return 3;
  if (writeFailed) return 2;
  return summary.ok ? 0 : 1;
}
