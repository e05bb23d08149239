import type { Worker } from 'node:worker_threads';
import type { ModelSource } from './parallel-protocol.js';

/** `--workers N` accepts 1..MAX_WORKERS. */
export declare const MAX_WORKERS: number;

/** The entry point of a worker thread (parallel-boot.mjs). */
export declare const BOOT: URL;
/** Raise stdout/stderr's listener limit for n worker threads (they pipe into both). */
export declare function roomForWorkers(n: number): void;

/** Worker threads started early, each already loading a model file (worker-threads.mjs). */
export declare class WorkerThreads {
  constructor(n: number, source: ModelSource);
  /** The first n threads with what already went wrong in each, once (undefined afterwards); the others are stopped. */
  take(n: number): { worker: Worker; failure: Error | undefined }[] | undefined;
  /** Stop the threads no run took. */
  close(): Promise<void>;
}

/** What `[check] MODEL … --workers N` needs (N-1 threads for MODEL), guessed from raw arguments; undefined for anything else. */
export declare function earlyStartFor(args: readonly string[]): { threads: number; file: string } | undefined;

/** Start the threads earlyStartFor() guesses `args` need (undefined: none). */
export declare function startForArgs(args: readonly string[]): WorkerThreads | undefined;
