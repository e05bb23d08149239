#!/usr/bin/env node
// Registers tsx's loader so model files (TypeScript) and the sources load
// without a build step, then runs the CLI. A multi-core run's worker threads
// are started first, so their own start overlaps all of this thread's
// (worker-threads.mjs).
import { startForArgs } from '../src/engine/worker-threads.mjs';

// Ctrl-C and SIGTERM are caught from the very start: one stops the run at its
// next check (partial statistics, verdict incomplete, exit 3), even while the
// model is still loading; a second exits at once.
const stop = new AbortController();
const onSignal = (sig) => {
  if (stop.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
  process.stderr.write(`\ntlbcheck: ${sig}: stopping at the next check (again to quit at once)\n`);
  stop.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const early = startForArgs(process.argv.slice(2));
const { register } = await import('tsx/esm/api');

// `tlbcheck … | head` closes our stdout early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

register();
const { main } = await import('../src/cli.ts');
try {
  process.exitCode = await main(process.argv, undefined, early, stop.signal);
} finally {
  await early?.close();
}
