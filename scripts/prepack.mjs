// npm pack / npm publish: emit the declaration files of the package's exports
// into types/ (tsconfig.types.json), beside copies of the handwritten .d.mts
// files of the plain-JavaScript modules they import, so a consumer's tsc
// type-checks against declarations, whatever its own compiler options, and
// never compiles tlbcheck's sources.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'types');
rmSync(out, { recursive: true, force: true });
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.types.json')], { stdio: 'inherit' });

/** @param {string} dir */
function copyDeclarations(dir) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) copyDeclarations(p);
    else if (e.name.endsWith('.d.mts')) {
      const to = join(out, relative(root, p));
      mkdirSync(dirname(to), { recursive: true });
      copyFileSync(p, to);
    }
  }
}
copyDeclarations(join(root, 'src'));
