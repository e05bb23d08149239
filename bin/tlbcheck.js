#!/usr/bin/env node
// Registers tsx's loader so model files (TypeScript) and the sources load
// without a build step, then runs the CLI.
import { register } from 'tsx/esm/api';

// `tlbcheck … | head` closes our stdout early: that is not an error.
process.stdout.on('error', (e) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv);
