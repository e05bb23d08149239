/**
 * `tlbcheck init [dir]`: scaffold a project that checks its own models.
 *
 *   models/shootdown.ts             a small shootdown protocol built from the
 *                                   hw/kernel blocks, with an expect block
 *   test/shootdown.test.ts          its verdicts as vitest tests (tlbcheck/vitest)
 *   .github/workflows/tlbcheck.yml  `npx tlbcheck ci` on every pull request
 *   package.json, tsconfig.json     only when the directory has none
 *
 * The files are copies of templates/init/. Nothing is overwritten: when any
 * of the first three exists, nothing is written at all (exit 2).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';

export interface InitIo {
  out(s: string): void;
  err(s: string): void;
}

const TEMPLATES = new URL('../templates/init/', import.meta.url);

/** Scaffolded file → its template (relative to templates/init/). */
const SCAFFOLD: readonly (readonly [string, string])[] = [
  ['models/shootdown.ts', 'models/shootdown.ts'],
  ['test/shootdown.test.ts', 'test/shootdown.test.ts'],
  ['.github/workflows/tlbcheck.yml', 'tlbcheck.yml'],
];

interface OwnPackage {
  version: string;
  devDependencies?: Record<string, string>;
}

const ownPackage = (): OwnPackage => JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as OwnPackage;

/** An npm package name from a directory name ("My Models" → "my-models"). */
function packageName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '');
  return name || 'tlbcheck-models';
}

function packageJson(dir: string): string {
  const own = ownPackage();
  const dev = own.devDependencies ?? {};
  const pkg = {
    name: packageName(dir),
    private: true,
    type: 'module',
    scripts: { check: 'tlbcheck ci', test: 'vitest run', typecheck: 'tsc --noEmit' },
    devDependencies: {
      tlbcheck: `^${own.version}`,
      typescript: dev.typescript ?? '^5.9.0',
      vitest: dev.vitest ?? '^4.0.0',
    },
  };
  return JSON.stringify(pkg, null, 2) + '\n';
}

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    isolatedModules: true,
    skipLibCheck: true,
  },
  include: ['models', 'test'],
};

/** Which of the dependencies the scaffold needs are not declared in an existing package.json. */
function missingDependencies(file: string): string[] {
  let pkg: { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
  try {
    pkg = JSON.parse(readFileSync(file, 'utf8')) as typeof pkg;
  } catch {
    return [];
  }
  const has = { ...pkg.dependencies, ...pkg.devDependencies };
  return ['tlbcheck', 'vitest', 'typescript'].filter((d) => !(d in has));
}

export async function runInit(dir: string | undefined, io: InitIo): Promise<number> {
  const target = dir ?? '.';
  const root = resolve(target);
  const fail = (msg: string) => {
    io.err(`tlbcheck: init: ${msg}\n`);
    return 2;
  };
  try {
    if (existsSync(root) && !statSync(root).isDirectory()) return fail(`${target} is not a directory`);
    const clash = SCAFFOLD.map(([to]) => to).filter((to) => existsSync(join(root, to)));
    if (clash.length) return fail(`${clash.map((f) => join(target, f)).join(', ')} already exist${clash.length === 1 ? 's' : ''}; nothing was written (remove or rename ${clash.length === 1 ? 'it' : 'them'} first)`);

    const files: [string, string][] = SCAFFOLD.map(([to, from]) => [to, readFileSync(new URL(from, TEMPLATES), 'utf8')]);
    const pkgFile = join(root, 'package.json');
    const hadPackage = existsSync(pkgFile);
    if (!hadPackage) files.push(['package.json', packageJson(root)]);
    if (!existsSync(join(root, 'tsconfig.json'))) files.push(['tsconfig.json', JSON.stringify(TSCONFIG, null, 2) + '\n']);

    const written: string[] = [];
    try {
      for (const [to, text] of files) {
        const abs = join(root, to);
        mkdirSync(dirname(abs), { recursive: true });
        writeFileSync(abs, text, { flag: 'wx' }); // never overwrite, even a file that appeared meanwhile
        written.push(abs);
      }
    } catch (e) {
      for (const f of written) rmSync(f, { force: true }); // all or nothing
      throw e;
    }
    for (const [to] of files) io.out(`created ${join(target, to)}\n`);

    const missing = hadPackage ? missingDependencies(pkgFile) : ['tlbcheck', 'vitest', 'typescript'];
    const cd = target === '.' ? '' : `cd ${target} && `;
    io.out('\nnext:\n');
    if (missing.length) io.out(`  ${cd}npm install -D ${missing.join(' ')}   (or the tlbcheck tarball: npm install -D ./tlbcheck-<version>.tgz)\n`);
    io.out('  npx tlbcheck models/shootdown.ts                          # holds: every interleaving checked\n');
    io.out('  npx tlbcheck models/shootdown.ts --set remoteFlush=false  # the race, as a diagram (exit 1)\n');
    io.out('  npx tlbcheck ci && npx vitest run                         # what .github/workflows/tlbcheck.yml runs\n');
    io.out('  commit package-lock.json too: the workflow installs with npm ci\n');
    return 0;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    return fail(err.path ? `${err.path}: ${err.code ?? err.message}` : err instanceof Error ? err.message.split('\n')[0]! : String(e));
  }
}
