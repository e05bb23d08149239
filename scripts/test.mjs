// npm test: the type check and the test suite side by side (tsc is single-threaded and
// finishes long before vitest), then one exit status: non-zero if either failed.
// tsc's report is printed after vitest's, so the two do not interleave.
import { spawn } from 'node:child_process';

const run = (cmd, args, capture) =>
  new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit', shell: process.platform === 'win32' });
    let out = '';
    if (capture) {
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (out += d));
    }
    p.on('close', (code, signal) => resolve({ code: code ?? (signal ? 1 : 0), out }));
  });

const bin = (name) => new URL(`../node_modules/.bin/${name}`, import.meta.url).pathname;
const [tsc, vitest] = await Promise.all([run(bin('tsc'), ['--noEmit', '-p', '.'], true), run(bin('vitest'), ['run', ...process.argv.slice(2)], false)]);
if (tsc.code !== 0) process.stdout.write(`\ntsc --noEmit failed:\n${tsc.out}`);
else process.stdout.write('tsc --noEmit: no type errors\n');
process.exit(tsc.code !== 0 ? tsc.code : vitest.code);
