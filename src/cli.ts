/**
 * The `tlbcheck` command line.
 *
 * Exit status: 0 every invariant holds on the full state space; 1 a violation
 * was found; 2 usage or model error (one line on stderr); 3 incomplete.
 */
import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkCompiledAsync, type CheckResult } from './engine/check.js';
import { CheckpointError, identityMismatch, readCheckpoint } from './engine/checkpoint.js';
import { searchIdentity, storeOptions } from './engine/explore.js';
import { omissionProbability } from './engine/fingerprint-store.js';
import { instantiate, ModelError, type CompiledModel } from './engine/compile.js';
import type { Progress } from './engine/explore.js';
import { describeParam, ParamError, parseParamValue, type ModelDef, type ParamValueAny, type StoreChoice } from './engine/model.js';
import { loadModel, UsageError } from './load.js';
import { raceDiagram } from './report/diagram.js';
import { checkWritable, compactJson, numberedFile, writeFileMkdir } from './report/files.js';
import { htmlReport } from './report/html.js';
import { traceDoc, TraceFormatError } from './report/json.js';
import { sliceViolation, TraceError } from './report/slice.js';
import { runReplay } from './replay.js';
import { runCi, type CiFlags } from './ci.js';
import { runInit } from './init.js';
import { parseSeed, runSimulate, type SimulateFlags } from './simulate.js';
import { WorkerThreads, type ModelSource } from './engine/parallel.js';
import { MAX_WORKERS } from './engine/worker-threads.mjs';
import { fmtCount, storeLine, summaryLine, verdictLine, violationText } from './report/text.js';

export const EXIT = { holds: 0, violated: 1, usage: 2, incomplete: 3 } as const;

interface Io {
  out: (s: string) => void;
  err: (s: string) => void;
  isTTY: boolean;
}

const defaultIo: Io = {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  isTTY: Boolean(process.stdout.isTTY && process.stderr.isTTY),
};

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
    return Number(v);
  };
}

function workerCount(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > MAX_WORKERS)
    throw new UsageError(`--workers must be an integer from 1 to ${MAX_WORKERS}, got ${JSON.stringify(v)}`);
  return Number(v);
}

function positiveNumber(name: string, unit: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^\d+(\.\d+)?$/.test(v) || !(n > 0)) throw new UsageError(`${name} must be a positive number of ${unit}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** `--set NAME=VALUE` strings → typed overrides, validated against the model's parameters. */
export function parseSets(def: ModelDef, sets: readonly string[]): Record<string, ParamValueAny> {
  const out: Record<string, ParamValueAny> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set expects NAME=VALUE, got ${JSON.stringify(s)}`);
    const name = s.slice(0, eq).trim();
    const spec = def.params[name];
    if (!spec) {
      const known = Object.keys(def.params);
      throw new UsageError(`unknown parameter ${name} for model ${def.name} (known: ${known.length ? known.join(', ') : 'none'})`);
    }
    out[name] = parseParamValue(name, spec, s.slice(eq + 1).trim());
  }
  return out;
}

interface CheckFlags {
  set: string[];
  invariant: string[];
  all?: boolean;
  maxStates?: number;
  maxDepth?: number;
  timeLimit?: number;
  symmetry?: 'none' | 'cpu' | 'all';
  memoryLimit?: number;
  store?: StoreChoice;
  workers?: number;
  json?: boolean;
  quiet?: boolean;
  slice?: boolean;
  steps?: boolean;
  traceOut?: string;
  html?: string;
  checkpoint?: string;
  checkpointEvery?: number;
  resume?: string;
  liveness?: boolean;
}

/** A violation as text: the race diagram (default), sliced with --slice, or the old step list with --steps. */
function violationOut(model: CompiledModel, v: CheckResult['violations'][number], flags: CheckFlags): string {
  if (flags.steps) return violationText(model, v);
  // A lasso is not sliced: its loop is what it shows.
  if (!flags.slice || v.kind === 'liveness') return raceDiagram(v);
  const sl = sliceViolation(model, v);
  const n = v.trace.length - 1;
  const title =
    `${v.kind === 'deadlock' ? 'deadlock' : `${v.invariant} violated`}: slice of ${sl.kept.length} of ${n} steps` +
    (sl.dropped.length ? ` (dropped ${sl.dropped.join(', ')}: the violation does not depend on them)` : ' (every step is needed)') +
    ':';
  return raceDiagram(sl.violation, { stepNumbers: sl.kept, title });
}

const mib = (b: number) => (b / 2 ** 20).toFixed(0);

/** States, rate, depth, frontier and how fast it grows, process memory against the limit, time. */
function progressLine(p: Progress, prevQueue: { n: number; t: number }): string {
  const dt = (p.elapsedMs - prevQueue.t) / 1000;
  const growth = dt > 0 && prevQueue.t > 0 ? (p.queue - prevQueue.n) / dt : 0;
  prevQueue.n = p.queue;
  prevQueue.t = p.elapsedMs;
  return (
    `  ${fmtCount(p.states)} states  ${fmtCount(Math.round(p.statesPerSec))}/s  depth ${p.depth}  ` +
    `queue ${fmtCount(p.queue)} (${growth >= 0 ? '+' : '−'}${fmtCount(Math.round(Math.abs(growth)))}/s)  ` +
    `RSS ${mib(p.rssBytes)}${p.memoryLimitBytes > 0 ? `/${mib(p.memoryLimitBytes)}` : ''} MiB  ${(p.elapsedMs / 1000).toFixed(1)} s`
  );
}

/** The --json document: the CheckResult, with `cpu` on every trace step (null = no CPU, as in trace files). */
export function resultJson(r: CheckResult, modelFile: string): Record<string, unknown> {
  const violations = r.violations.map((v) => ({ ...v, trace: v.trace.map((st) => ({ ...st, cpu: st.cpu ?? null })) }));
  return { version: 1, modelFile, ...r, violations };
}

type Interruptible = <T>(f: (signal: AbortSignal) => Promise<T>) => Promise<T>;

async function runCheck(file: string, flags: CheckFlags, io: Io, early: WorkerThreads | undefined, interruptible: Interruptible): Promise<number> {
  // Worker threads load tsx, the engine and the model file while this thread
  // does (started by bin/tlbcheck.js already, or now). They reuse that load
  // only for the very source the run names.
  const source = { file: resolve(file) };
  const threads = (flags.workers ?? 1) > 1 ? (early ?? new WorkerThreads(flags.workers! - 1, source)) : undefined;
  try {
    return await checkFile(file, source, flags, io, threads, interruptible);
  } finally {
    await threads?.close();
  }
}

async function checkFile(file: string, source: ModelSource, flags: CheckFlags, io: Io, threads: WorkerThreads | undefined, interruptible: Interruptible): Promise<number> {
  try {
    return await checkLoaded(file, await loadModel(file), source, flags, io, threads, interruptible);
  } catch (e) {
    // A model's own error names the file it came from.
    if (e instanceof ModelError && !e.message.startsWith(file)) throw new ModelError(`${file}: ${e.message}`);
    throw e;
  }
}

async function checkLoaded(
  file: string,
  def: ModelDef,
  source: ModelSource,
  flags: CheckFlags,
  io: Io,
  threads: WorkerThreads | undefined,
  interruptible: Interruptible,
): Promise<number> {
  const overrides = parseSets(def, flags.set);
  const model: CompiledModel = instantiate(def, overrides, { invariants: flags.invariant });
  // Report paths are checked before the search, not after an hour of it.
  if (flags.traceOut) checkWritable(flags.traceOut, '--trace-out file');
  if (flags.html) checkWritable(flags.html, '--html report');
  // --resume FILE goes on saving into FILE unless --checkpoint names another.
  const ckpt = flags.checkpoint ?? flags.resume;
  if (flags.store === 'compact' && (flags.workers ?? 1) > 1) throw new UsageError('--store compact runs on one thread (the workers share a flat table): drop --workers, or use --store exact');
  const stores = storeOptions(flags.store);
  const resume = flags.resume !== undefined ? readCheckpoint(flags.resume) : undefined;
  if (ckpt !== undefined) checkWritable(ckpt, '--checkpoint file');
  if (resume) {
    const why = identityMismatch(resume.identity, searchIdentity(model, { store: stores.store, symmetry: flags.symmetry, all: flags.all }));
    if (why) throw new CheckpointError(`cannot resume from ${flags.resume}: ${why}`);
  }
  const showProgress = io.isTTY && !flags.json && !flags.quiet;
  let lastLen = 0;
  const queueSeen = { n: 0, t: 0 };
  const result = await interruptible((signal) =>
    checkCompiledAsync(model, {
      ...stores,
      workers: flags.workers,
      threads,
      source,
      all: flags.all,
      maxStates: flags.maxStates,
      maxDepth: flags.maxDepth,
      timeLimitMs: flags.timeLimit !== undefined ? flags.timeLimit * 1000 : undefined,
      symmetry: flags.symmetry,
      memoryLimitBytes: flags.memoryLimit !== undefined ? flags.memoryLimit * 2 ** 20 : undefined,
      signal,
      checkpoint: ckpt !== undefined ? { file: ckpt, everyMs: (flags.checkpointEvery ?? 10) * 60_000 } : undefined,
      resume,
      liveness: flags.liveness,
      progressIntervalMs: 100,
      onProgress: showProgress
        ? (p) => {
            const line = progressLine(p, queueSeen);
            io.err(`\r${line.padEnd(lastLen)}`);
            lastLen = line.length;
          }
        : undefined,
    }),
  );
  if (showProgress && lastLen) io.err(`\r${' '.repeat(lastLen)}\r`);
  const docs = result.violations.map((v) => {
    const sl = flags.slice && v.kind !== 'liveness' ? sliceViolation(model, v) : undefined;
    return traceDoc(model, sl ? sl.violation : v, { modelFile: file, warnings: result.warnings, slice: sl && { of: v.trace.length - 1, kept: sl.kept } });
  });
  // A report that cannot be written costs neither the verdict nor the other reports.
  const writeFailures: string[] = [];
  const write = (f: string, text: () => string) => {
    try {
      writeFileMkdir(f, text());
    } catch (e) {
      writeFailures.push((e as Error).message);
    }
  };
  if (flags.traceOut) docs.forEach((doc, i) => write(numberedFile(flags.traceOut!, i), () => compactJson(doc) + '\n'));
  if (flags.html) write(flags.html, () => htmlReport({ run: { ...result, modelFile: file }, traces: docs }));
  if (flags.json) {
    io.out(JSON.stringify(resultJson(result, file)) + '\n');
  } else {
    io.out(headerLine(result) + '\n');
    for (const v of result.violations) io.out(`\n${violationOut(model, v, flags)}\n\n`);
    io.out(summaryLine(result) + '\n');
    if (result.liveness) io.out(livenessLine(result.liveness) + '\n');
    const sl = storeLine(result);
    if (sl) io.out(sl + '\n');
    io.out(verdictLine(result) + '\n');
    if (result.checkpoint && result.verdict === 'incomplete')
      io.out(`checkpoint: ${result.checkpoint.file} (${fmtCount(result.checkpoint.states)} states); go on with --resume ${result.checkpoint.file}\n`);
    // --quiet keeps the warnings that change what was searched (a reduction switched off, tables dropped).
    for (const w of result.warnings) if (!flags.quiet || !isCoverageWarning(w)) io.out(`warning: ${w}\n`);
    if (!flags.liveness && model.liveness.length && !flags.quiet) io.out(`note: liveness properties not checked (--liveness checks them): ${model.liveness.map((l) => l.name).join(', ')}\n`);
  }
  for (const f of writeFailures) io.err(`tlbcheck: ${f}\n`);
  return writeFailures.length ? EXIT.usage : EXIT[result.verdict];
}

/** What --liveness checked, on how big a graph. */
function livenessLine(l: NonNullable<CheckResult['liveness']>): string {
  const props = `${l.checked.length} propert${l.checked.length === 1 ? 'y' : 'ies'}`;
  const t = `${(l.elapsedMs / 1000).toFixed(2)} s`;
  if (l.limit) return `liveness: ${l.violated ? `${l.violated} of ${props} violated, the others` : props} not decided: the state graph stopped by ${l.limit} after ${fmtCount(l.states)} states, ${t}`;
  if (l.early) return `liveness: ${props} violated on the first ${fmtCount(l.states)} states of the graph (the rest was not built), ${t}`;
  const fp = l.fingerprint ? ` (64-bit fingerprints: a state is missed with probability ${omissionProbability(l.states).toExponential(1)})` : '';
  return `liveness: ${props} on the full graph of ${fmtCount(l.states)} states, ${fmtCount(l.transitions)} transitions${fp}, ${t}`;
}

/** "model sync (N=3 P=2 …)": which model and which parameters (after any clamping the model did). */
function headerLine(r: CheckResult): string {
  const params = Object.entries(r.params)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `model ${r.model}${params ? ` (${params})` : ''}`;
}

/** Coverage and vacuity warnings (check.ts coverageWarnings) are what --quiet drops. */
const isCoverageWarning = (w: string) => /^action \S+ was never enabled$|^invariant \S+ is vacuous/.test(w);

/**
 * Run `f` with an AbortSignal that the first SIGINT or SIGTERM aborts: the
 * run stops at its next check with verdict incomplete and its partial
 * statistics. A second signal exits at once (130 for SIGINT, 143 for SIGTERM).
 */
async function withSignalHandlers<T>(io: Io, f: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    io.err(`\ntlbcheck: ${sig}: stopping at the next check (again to quit at once)\n`);
    ac.abort();
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  try {
    return await f(ac.signal);
  } finally {
    process.off('SIGINT', on);
    process.off('SIGTERM', on);
  }
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function describeModel(def: ModelDef): string {
  const lines = [`${def.name}: ${def.description}`, '', 'parameters:'];
  for (const [name, spec] of Object.entries(def.params)) lines.push(`  ${name} (${describeParam(spec)}, default ${String(spec.default)}): ${spec.doc}`);
  return lines.join('\n');
}

/**
 * `early`: worker threads bin/tlbcheck.js started from its guess at the
 * arguments (startForArgs). `signal`: aborted by the signal handlers
 * bin/tlbcheck.js installs first thing; without one, main() installs its own
 * for the length of a run.
 */
export async function main(argv: readonly string[], io: Io = defaultIo, early?: WorkerThreads, signal?: AbortSignal): Promise<number> {
  const interruptible = <T>(f: (s: AbortSignal) => Promise<T>): Promise<T> => (signal ? f(signal) : withSignalHandlers(io, f));
  const program = new Command();
  let code: number = EXIT.usage;
  program
    .name('tlbcheck')
    .description('Explicit-state model checker for TLB-flush protocols')
    .version(packageVersion(), '-V, --version', 'print the tlbcheck version')
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: () => {}, outputError: () => {} })
    .showHelpAfterError(false);

  program
    .command('check', { isDefault: true })
    .description('explore every reachable state of a model and check its invariants')
    .argument('<model>', 'model file (TypeScript), e.g. models/async.ts')
    .option('--set <NAME=VALUE>', 'override a model parameter (repeatable)', collect, [])
    .option('--invariant <NAME>', 'check only this invariant (repeatable)', collect, [])
    .option('--all', 'keep going after the first violation: one shortest trace per violated invariant')
    .addOption(new Option('--max-states <N>', 'stop after N states (verdict incomplete)').argParser(positiveInt('--max-states')))
    .addOption(new Option('--max-depth <N>', 'explore paths of at most N steps (verdict incomplete if deeper states exist)').argParser(positiveInt('--max-depth')))
    .addOption(new Option('--time-limit <SECONDS>', 'stop after this long (verdict incomplete)').argParser(positiveNumber('--time-limit', 'seconds')))
    .addOption(new Option('--symmetry [SORTS]', 'symmetry reduction: cpu (default) permutes CPUs, all also pages, none').choices(['none', 'cpu', 'all']).preset('cpu'))
    .addOption(new Option('--memory-limit <MIB>', 'stop (verdict incomplete) before the process (RSS) uses more memory (default 75% of RAM)').argParser(positiveNumber('--memory-limit', 'MiB')))
    .addOption(
      new Option(
        '--store <KIND>',
        'visited set: exact (full states), compact (full states, tree-compressed: less than half the memory, slower; one thread) or fingerprint (64-bit hash compaction, ≤ 16 B/state; prints the chance a state was missed)',
      ).choices(['exact', 'compact', 'fingerprint']),
    )
    .addOption(new Option('--workers <N>', 'worker threads (level-synchronous BFS over a shared table; same counts and shortest traces)').argParser(workerCount))
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no progress, no warnings')
    .option('--slice', 'show only the steps the violation depends on')
    .option('--steps', 'print violations as a numbered step list with the variables each step changed')
    .option('--html <FILE>', 'write a self-contained HTML report (swimlanes, step through the trace, state diffs)')
    .option('--trace-out <FILE>', 'write the counterexample as a JSON trace (schema/trace.schema.json); more violations go to FILE.2, …')
    .option('--checkpoint <FILE>', 'save the search to FILE every --checkpoint-every minutes and when a time limit or Ctrl-C stops it')
    .addOption(new Option('--checkpoint-every <MINUTES>', 'how often --checkpoint saves (default 10)').argParser(positiveNumber('--checkpoint-every', 'minutes')))
    .option('--resume <FILE>', 'go on with the search saved in FILE (same model, parameters and options); keeps saving there')
    .option('--liveness', "also check the model's liveness properties under its fairness (on the state graph, one thread)")
    .option('--describe', 'print the model description and its parameters, then exit')
    .action(async (file: string, flags: CheckFlags & { describe?: boolean }) => {
      if (flags.describe) {
        io.out(describeModel(await loadModel(file)) + '\n');
        code = 0;
        return;
      }
      code = await runCheck(file, flags, io, early, interruptible);
    });

  program
    .command('replay')
    .description('re-execute a JSON trace against a model: is it still a valid path, does it still violate? (exit 0 if it reproduces, 1 if not)')
    .argument('<trace>', 'trace file (--trace-out or --json output)')
    .argument('<model>', 'model file')
    .option('--json', 'print the replay report as JSON')
    .addOption(new Option('--violation <N>', 'which violation of a --json result to replay (default 1)').argParser(positiveInt('--violation')))
    .action(async (trace: string, file: string, flags: { json?: boolean; violation?: number }) => {
      code = await runReplay(trace, file, flags, io);
    });

  program
    .command('simulate')
    .description('random walks for bug hunting where exhaustive search cannot finish: exit 1 on a violation (shrunk trace), 3 if none was found (never a proof)')
    .argument('<model>', 'model file (TypeScript), e.g. models/async.ts')
    .option('--set <NAME=VALUE>', 'override a model parameter (repeatable)', collect, [])
    .option('--invariant <NAME>', 'check only this invariant (repeatable)', collect, [])
    .addOption(new Option('--seed <N>', 'seed of the walks, 0..2^32-1 (default: a random one, printed)').argParser(parseSeed))
    .addOption(new Option('--steps <N>', 'steps per walk at most (default 100)').argParser(positiveInt('--steps')))
    .addOption(new Option('--runs <N>', 'walks at most (default: as many as --time-limit allows)').argParser(positiveInt('--runs')))
    .addOption(new Option('--time-limit <SECONDS>', 'stop after this long (default 10 without --runs)').argParser(positiveNumber('--time-limit', 'seconds')))
    .option('--json', 'print one JSON document on stdout')
    .option('--quiet', 'no progress line, no coverage warnings')
    .option('--trace-out <FILE>', 'write the shrunk counterexample as a JSON trace (schema/trace.schema.json; tlbcheck replay reads it)')
    .action(async (file: string, flags: SimulateFlags) => {
      code = await interruptible((signal) => runSimulate(file, flags, io, signal));
    });

  program
    .command('ci')
    .description('run every model with each parameter set of its expect block and compare verdicts (exit 1 on any mismatch)')
    .argument('[glob...]', 'model files, directories or globs (default models/**/*.ts)')
    .option('--junit <FILE>', 'also write JUnit XML')
    .option('--sarif <FILE>', 'also write SARIF 2.1.0 for code scanning (one result per expectation not met, at its expect row)')
    .option('--baseline <FILE>', 'report what changed since an earlier summary.json (e.g. reports/summary.json)')
    .option('--out <DIR>', 'report directory for summary.md, summary.json and traces/', 'reports')
    .addOption(new Option('--time-limit <SECONDS>', 'per parameter set; a run that hits it is incomplete (a mismatch)').argParser(positiveNumber('--time-limit', 'seconds')))
    .addOption(new Option('--max-states <N>', 'per parameter set; a run that hits it is incomplete (a mismatch)').argParser(positiveInt('--max-states')))
    .option('--strict', 'coverage and vacuity warnings fail the gate too')
    .option('--quiet', 'no progress, no warnings in the output')
    .action(async (globs: string[], flags: CiFlags) => {
      code = await interruptible((signal) => runCi(globs, flags, { ...io, env: process.env }, signal));
    });

  program
    .command('init')
    .description('scaffold a model, its vitest test and a GitHub workflow (package.json/tsconfig.json if absent) into DIR')
    .argument('[dir]', 'target directory (default: the current one)')
    .action(async (dir: string | undefined) => {
      code = await runInit(dir, io);
    });

  try {
    await program.parseAsync(argv as string[], { from: 'node' });
    return code;
  } catch (e) {
    return handleError(e, io);
  }
}

function handleError(e: unknown, io: Io): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
    // Errors thrown by our own argParsers arrive wrapped by commander.
    const msg = e.message.replace(/^error: /, '');
    io.err(`tlbcheck: ${msg}\n`);
    return EXIT.usage;
  }
  if (e instanceof UsageError || e instanceof ModelError || e instanceof ParamError || e instanceof TraceFormatError || e instanceof TraceError || e instanceof CheckpointError) {
    io.err(`tlbcheck: ${e.message}\n`);
    return EXIT.usage;
  }
  const msg = e instanceof Error ? e.message.split('\n')[0] : String(e);
  io.err(`tlbcheck: internal error: ${msg}\n`);
  return EXIT.usage;
}
