// Entry point of a worker thread of a multi-core run (parallel.ts): register
// tsx's loader (as bin/tlbcheck.js does) so the engine sources and the model
// file (TypeScript) load, then start the worker.
import { register } from 'tsx/esm/api';

register();
await import(new URL('./parallel-worker.ts', import.meta.url).href);
