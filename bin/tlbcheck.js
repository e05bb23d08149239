#!/usr/bin/env node
// Registers tsx's loader so model files (TypeScript) and the sources load
// without a build step, then runs the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli.ts');
process.exitCode = await main(process.argv);
