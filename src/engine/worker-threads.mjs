// Worker threads of a multi-core run, started before anything else loads.
// Plain JavaScript (types in worker-threads.d.mts) so that bin/tlbcheck.js
// can start them before it registers tsx and loads the CLI: a worker thread
// takes ~350 ms to load tsx, the engine and the model file on this 2-core
// VM, and the main thread's own start (tsx ~100 ms, the CLI ~100 ms, the
// model) then runs beside it instead of before it.
import { resolve } from 'node:path';
import { Worker } from 'node:worker_threads';

/** `--workers N` accepts 1..MAX_WORKERS (the CLI checks it; the guess below ignores anything else). */
export const MAX_WORKERS = 64;

/** The entry point of a worker thread (parallel-boot.mjs). */
export const BOOT = new URL('./parallel-boot.mjs', import.meta.url);

/**
 * Worker threads started early, each already loading a model file (a 'load'
 * message, parallel-worker.ts). They are unref'd (they do not keep the
 * process alive) until a run takes them; a run for another model file sends
 * its own, and they load that one instead.
 */
/**
 * Every worker thread pipes its stdout and stderr into the process's, adding
 * an 'error' listener to each: past 10 workers Node would print a
 * MaxListenersExceededWarning (even under --quiet --json).
 * @param {number} n
 */
export function roomForWorkers(n) {
  for (const s of [process.stdout, process.stderr]) s.setMaxListeners(Math.max(s.getMaxListeners(), n + 10));
}

export class WorkerThreads {
  /** @param {number} n @param {import('./parallel-protocol.js').ModelSource} source */
  constructor(n, source) {
    /** @type {Worker[] | undefined} */
    this.workers = [];
    /** @type {(Error | undefined)[]} */
    this.failures = [];
    roomForWorkers(n);
    for (let i = 0; i < n; i++) {
      const w = new Worker(BOOT);
      w.unref();
      // Until a run attaches its own listeners, remember what went wrong.
      w.on('error', (e) => (this.failures[i] ??= e));
      w.on('exit', (code) => (this.failures[i] ??= new Error(`worker thread ${i + 1} exited with code ${code}`)));
      w.postMessage({ type: 'load', source });
      this.workers.push(w);
    }
  }

  /** The first n threads with what already went wrong in each, once (undefined afterwards); the others are stopped. */
  take(n) {
    const ws = this.workers;
    this.workers = undefined;
    if (!ws) return undefined;
    for (const w of ws.slice(n)) void w.terminate();
    return ws.slice(0, n).map((worker, i) => {
      worker.removeAllListeners('error');
      worker.removeAllListeners('exit');
      worker.ref();
      return { worker, failure: this.failures[i] };
    });
  }

  /** Stop the threads no run took. */
  async close() {
    const ws = this.workers;
    this.workers = undefined;
    await Promise.all((ws ?? []).map((w) => w.terminate()));
  }
}

const MODEL_FILE = /\.(m|c)?(t|j)s$/;

/**
 * What `tlbcheck [check] MODEL … --workers N` will need, guessed from the
 * raw arguments before the CLI parses them: N-1 threads for the first
 * argument that names a script file. Anything else (another command, no
 * --workers, a malformed count) needs none. A wrong guess costs only a
 * load: a run sends its own model file, and the CLI reports bad arguments
 * as it always does.
 * @param {readonly string[]} args the arguments after the script's path
 * @returns {{ threads: number, file: string } | undefined}
 */
export function earlyStartFor(args) {
  if (args[0] === 'replay' || args[0] === 'ci' || args[0] === 'help') return undefined;
  let workers = 1;
  let file;
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const v = a === '--workers' ? args[++i] : a.startsWith('--workers=') ? a.slice('--workers='.length) : undefined;
    if (v !== undefined) workers = /^\d+$/.test(v) ? Number(v) : 1;
    else if (file === undefined && !a.startsWith('-') && MODEL_FILE.test(a)) file = a;
  }
  return workers > 1 && workers <= MAX_WORKERS && file !== undefined ? { threads: workers - 1, file } : undefined;
}

/**
 * Start the threads earlyStartFor() guesses `args` will need.
 * @param {readonly string[]} args
 * @returns {WorkerThreads | undefined}
 */
export function startForArgs(args) {
  const g = earlyStartFor(args);
  return g && new WorkerThreads(g.threads, { file: resolve(g.file) });
}
