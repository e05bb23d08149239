/**
 * tlbcheck as a package: `npm pack`, installed into a fresh project outside
 * this repository, type-checked there by the project's own tsc and run with
 * `npx tlbcheck`; models outside any project that installs tlbcheck (the
 * loader's fallback to the running package); and `tlbcheck init`'s scaffold,
 * which must pass its own vitest test and the workflow's `tlbcheck ci`.
 *
 * The install is offline: the project gets a package-lock.json that pins the
 * tarball and tlbcheck's runtime dependencies at the versions of this repo's
 * own lock, so `npm ci --prefer-offline` takes them from the npm cache that
 * installed this repo (the network only if the cache lacks one). vitest and
 * tsc, the scaffold's dev tools, are linked from this repo's node_modules.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runInit } from '../../src/init.js';

const ROOT = join(import.meta.dirname, '..', '..');
const BIN = join(ROOT, 'bin/tlbcheck.js');
const TSC = join(ROOT, 'node_modules/typescript/bin/tsc');
const OWN = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
  exports: Record<string, string | { types: string; default: string }>;
};

interface Ran {
  code: number;
  out: string;
  err: string;
}

/** The parent `npm test`'s npm_* variables (its prefix, its lifecycle) must not steer the npm run inside the temp project. */
const cleanEnv = () => ({
  ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'GITHUB_ACTIONS' && k !== 'FORCE_COLOR')),
  NO_COLOR: '1',
});

function run(cmd: string, args: string[], cwd: string): Promise<Ran> {
  return new Promise((done) => {
    execFile(cmd, args, { cwd, env: cleanEnv(), encoding: 'utf8', maxBuffer: 64 << 20 }, (e, out, err) => {
      done({ code: e ? (typeof e.code === 'number' ? e.code : -1) : 0, out, err });
    });
  });
}
const node = (args: string[], cwd: string) => run(process.execPath, args, cwd);
/** `npx tlbcheck …` in a project; --no: never fetch a package of that name from the registry. */
const npx = (args: string[], cwd: string) => run('npx', ['--no', ...args], cwd);
const json = (r: Ran) => {
  try {
    return JSON.parse(r.out) as { model: string; verdict: string; violations: { invariant: string }[] };
  } catch {
    throw new Error(`not JSON (exit ${r.code}): ${r.out}\n${r.err}`);
  }
};

/** The shipped model's source with its ../src and ../properties imports turned into the package's exports. */
function asPackageImports(model: string): string {
  const text = readFileSync(join(ROOT, model), 'utf8')
    .replaceAll("'../src/index.js'", "'tlbcheck'")
    .replaceAll("'../src/hw/index.js'", "'tlbcheck/hw'")
    .replaceAll("'../src/kernel/index.js'", "'tlbcheck/kernel'")
    .replaceAll("'../properties/index.js'", "'tlbcheck/properties'");
  expect(text, `${model} imports something the rewrite does not cover`).not.toMatch(/from '\.\.?\//);
  return text;
}

/** A two-CPU flag model from every entry point a model uses; BUG breaks its invariant. */
const SMALL_MODEL = (name: string, from = 'tlbcheck') => `
import { array, bool, cpus, defineModel, machine, type View } from '${from}';
import type { HwShape } from '${from}/hw';
import type { KernelShape } from '${from}/kernel';
import { DEADLOCK } from '${from}/properties';

type Shapes = HwShape | KernelShape | typeof DEADLOCK;
export type { Shapes };

export default defineModel({
  name: '${name}',
  description: 'Each CPU raises its flag once; with BUG the invariant forbids both raised.',
  params: { BUG: { default: false, doc: 'break the invariant' } },
  build: ({ BUG }) => {
    const CPU = cpus(2);
    const state = { flag: array(CPU, bool()) };
    const both = (s: View<typeof state>) => s.flag.every((f) => f);
    return machine(state, {
      actions: { raise: { over: [CPU], guard: (s, c) => !s.flag[c], effect: (s, c) => { s.flag[c] = true; } } },
      invariants: { 'not-both': { doc: 'with BUG, never both flags', holds: (s) => !BUG || !both(s) } },
      endState: both,
    });
  },
  expect: [{ params: {}, verdict: 'holds' }, { params: { BUG: true }, verdict: 'violated', invariant: 'not-both' }],
});
`;

let tmp = '';
/** A project with the packed tarball installed. */
let app = '';
let tarEntries: string[] = [];

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'tlbcheck-package-'));
  // The fallback tests need a place where Node finds no tlbcheck at all.
  for (let d = tmp; d !== dirname(d); d = dirname(d)) expect(existsSync(join(d, 'node_modules', 'tlbcheck')), d).toBe(false);

  const pack = await run('npm', ['pack', '--pack-destination', tmp, '--silent'], ROOT);
  expect(pack.code, pack.err).toBe(0);
  const tgz = readdirSync(tmp).find((f) => f.endsWith('.tgz'));
  expect(tgz, 'npm pack wrote no tarball').toBeDefined();
  const list = await run('tar', ['tzf', join(tmp, tgz!)], tmp);
  tarEntries = list.out.split('\n').filter(Boolean);
  mkdirSync(join(tmp, 'unpacked'));
  expect((await run('tar', ['xzf', join(tmp, tgz!), '-C', join(tmp, 'unpacked')], tmp)).code).toBe(0);

  app = join(tmp, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'tlbcheck.tgz'), readFileSync(join(tmp, tgz!)));
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
  const integrity = `sha512-${createHash('sha512').update(readFileSync(join(app, 'tlbcheck.tgz'))).digest('base64')}`;
  const deps = { tlbcheck: 'file:tlbcheck.tgz' };
  const packages: Record<string, unknown> = {
    '': { name: 'app', dependencies: deps },
    'node_modules/tlbcheck': { version: OWN.version, resolved: 'file:tlbcheck.tgz', integrity, dependencies: OWN.dependencies, bin: { tlbcheck: 'bin/tlbcheck.js' } },
  };
  for (const [k, v] of Object.entries(lock.packages)) if (k && !v.dev) packages[k] = v;
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module', dependencies: deps }, null, 2));
  writeFileSync(join(app, 'package-lock.json'), JSON.stringify({ name: 'app', lockfileVersion: 3, requires: true, packages }, null, 2));
  const ci = await run('npm', ['ci', '--prefer-offline', '--ignore-scripts', '--no-audit', '--no-fund'], app);
  expect(ci.code, ci.err).toBe(0);
  symlinkSync(join(ROOT, 'node_modules/vitest'), join(app, 'node_modules/vitest'));
  symlinkSync('../vitest/vitest.mjs', join(app, 'node_modules/.bin/vitest'));
}, 120_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('ships the CLI, the sources, the declarations, the models and templates, and nothing else', () => {
    const top = new Set(tarEntries.map((e) => e.replace(/^package\//, '').split('/')[0]));
    expect([...top].sort()).toEqual(['README.md', 'bin', 'models', 'package.json', 'properties', 'schema', 'src', 'templates', 'types']);
    expect(tarEntries.some((e) => /\/test\/|\.test\.ts$/.test(e) && !e.startsWith('package/templates/'))).toBe(false);
    // every export's declarations and module are in it
    for (const [sub, target] of Object.entries(OWN.exports)) {
      const files = typeof target === 'string' ? [target] : [target.types, target.default];
      for (const f of files) expect(tarEntries, `${sub} → ${f}`).toContain(`package/${f.slice(2)}`);
    }
    // every relative import of a shipped declaration file resolves to a shipped declaration file
    // (skipLibCheck, which consumers use, would silently make a missing one `any`)
    const declarations = tarEntries.filter((e) => /\.d\.m?ts$/.test(e) && e.startsWith('package/types/'));
    expect(declarations.length).toBeGreaterThan(10);
    const dangling: string[] = [];
    for (const d of declarations) {
      const text = readFileSync(join(tmp, 'unpacked', d), 'utf8');
      for (const [, spec] of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
        const target = join(dirname(d), spec!).replace(/\.js$/, '.d.ts').replace(/\.mjs$/, '.d.mts');
        if (!tarEntries.includes(target)) dangling.push(`${d} → ${spec}`);
      }
    }
    expect(dangling).toEqual([]);
    expect(tarEntries).toContain('package/types/src/engine/worker-threads.d.mts');
  });

  it("type-checks in a fresh project with the project's own strict tsconfig", async () => {
    const dir = join(app, 'typed');
    mkdirSync(dir);
    writeFileSync(join(dir, 'sync.ts'), asPackageImports('models/sync.ts'));
    writeFileSync(join(dir, 'async.ts'), asPackageImports('models/async.ts'));
    writeFileSync(join(dir, 'small.ts'), SMALL_MODEL('small'));
    // plain strict; no @types/node in this project
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, module: 'nodenext', target: 'es2022', noEmit: true, skipLibCheck: true }, include: ['*.ts'] }));

    // TypeScript 5.9's `tsc --init` (noUncheckedIndexedAccess, exactOptionalPropertyTypes, verbatimModuleSyntax,
    // skipLibCheck, types: [] so no @types/node)
    const strictest = join(dir, 'strictest');
    mkdirSync(strictest);
    writeFileSync(join(strictest, 'small.ts'), SMALL_MODEL('small'));
    // and the types are real: comparing a bool() field with a number is an error, in the model's line
    const bad = SMALL_MODEL('bad').replace('!s.flag[c]', 's.flag[c] === 3');
    writeFileSync(join(strictest, 'bad.ts'), bad);

    const [ok, init] = await Promise.all([
      node([TSC, '--noEmit', '-p', '.'], dir),
      node([TSC, '--init'], strictest).then((r) => (r.code === 0 ? node([TSC, '--noEmit', '-p', '.'], strictest) : r)),
    ]);
    expect(ok.out + ok.err).toBe('');
    expect(ok.code).toBe(0);
    const line = bad.split('\n').findIndex((l) => l.includes('=== 3')) + 1;
    expect(init.out.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^bad\\.ts\\(${line},\\d+\\): error TS2367: `))]);
    expect(init.code).not.toBe(0);
  });

  it('npx tlbcheck runs models importing tlbcheck: holds exits 0, a violation exits 1', async () => {
    const dir = join(app, 'typed'); // written by the test above
    const [sync, async] = await Promise.all([npx(['tlbcheck', 'sync.ts', '--json'], dir), npx(['tlbcheck', 'async.ts', '--json'], dir)]);
    expect([sync.code, json(sync).model, json(sync).verdict]).toEqual([0, 'sync', 'holds']);
    expect([async.code, json(async).model, json(async).verdict, json(async).violations[0]?.invariant]).toEqual([1, 'async', 'violated', 'no-stale-access']);
  });
});

describe('models outside any project that installs tlbcheck', () => {
  /** dir → package.json ("none": no package.json at all). */
  const DIRS = { esm: { type: 'module' }, cjs: { type: 'commonjs' }, none: undefined } as const;
  // one base name per file: tsx loads x.ts for x.js when both exist
  const CASES: [keyof typeof DIRS, string, string][] = [
    ['esm', 'm-ts.ts', SMALL_MODEL('esm-ts')],
    ['cjs', 'm-ts.ts', SMALL_MODEL('cjs-ts')],
    ['none', 'm-ts.ts', SMALL_MODEL('none-ts')],
    ['esm', 'm-mts.mts', SMALL_MODEL('esm-mts')],
    ['cjs', 'm-mts.mts', SMALL_MODEL('cjs-mts')],
    // JavaScript: the same model without its type annotations
    ['esm', 'm-js.js', jsOf(SMALL_MODEL('esm-js'))],
    ['cjs', 'm-js.js', jsOf(SMALL_MODEL('cjs-js'))],
    ['none', 'm-mjs.mjs', jsOf(SMALL_MODEL('none-mjs'))],
  ];

  function jsOf(ts: string): string {
    return ts
      .replace(/^import type .*\n/gm, '')
      .replace(/^type Shapes.*\nexport type .*\n/m, '')
      .replace(', type View', '')
      .replace('(s: View<typeof state>)', '(s)');
  }

  function layout(): string {
    const base = join(tmp, 'outside');
    for (const [d, pkg] of Object.entries(DIRS)) {
      mkdirSync(join(base, d), { recursive: true });
      if (pkg) writeFileSync(join(base, d, 'package.json'), JSON.stringify(pkg));
    }
    return base;
  }

  it('load from ESM, CommonJS and package.json-less directories, as .ts, .mts, .js and .mjs, and run', async () => {
    const base = layout();
    for (const [d, file, text] of CASES) writeFileSync(join(base, d, file), text);
    // a require() of tlbcheck from plain CommonJS, and a real protocol model from every entry point in CommonJS
    writeFileSync(
      join(base, 'cjs', 'required.js'),
      `const { array, bool, cpus, defineModel, machine } = require('tlbcheck');
module.exports = defineModel({ name: 'required', description: 'require()', params: {}, build: () => {
  const CPU = cpus(2);
  return machine({ f: array(CPU, bool()) }, { actions: { set: { over: [CPU], guard: (s, c) => !s.f[c], effect: (s, c) => { s.f[c] = true; } } },
    invariants: { ok: { doc: 'flags only rise', holds: () => true } }, endState: (s) => s.f.every(Boolean) });
}, expect: [{ params: {}, verdict: 'holds' }] });\n`,
    );
    writeFileSync(join(base, 'cjs', 'async.ts'), asPackageImports('models/async.ts'));
    // every small model's expect rows in one `tlbcheck ci` (each file loaded as the check command loads it),
    // the real protocol model and a violation through the check command itself
    const files = [...CASES.map(([d, file]) => `${d}/${file}`), 'cjs/required.js'];
    const [ci, async, bug] = await Promise.all([
      node([BIN, 'ci', ...files, '--quiet'], base),
      node([BIN, join(base, 'cjs', 'async.ts'), '--json'], base),
      node([BIN, join(base, 'none', 'm-ts.ts'), '--set', 'BUG=true', '--json'], base),
    ]);
    expect(ci.err).toBe('');
    expect(ci.code, ci.out).toBe(0);
    const summary = JSON.parse(readFileSync(join(base, 'reports/summary.json'), 'utf8')) as { rows: { file: string; model: string; got: string; ok: boolean }[] };
    expect(summary.rows.map((r) => [r.file, r.model, r.got, r.ok])).toEqual([
      ...CASES.flatMap(([d, file]) => {
        const name = `${d}-${file.split('.')[1]!}`;
        return [[`${d}/${file}`, name, 'holds', true], [`${d}/${file}`, name, 'violated', true]];
      }),
      ['cjs/required.js', 'required', 'holds', true],
    ].sort((a, b) => (String(a[0]) < String(b[0]) ? -1 : String(a[0]) > String(b[0]) ? 1 : 0)));
    expect([async.code, json(async).model, json(async).violations[0]?.invariant]).toEqual([1, 'async', 'no-stale-access']);
    expect([bug.code, json(bug).model, json(bug).violations[0]?.invariant]).toEqual([1, 'none-ts', 'not-both']);
  });

  it('prefer the tlbcheck their own directory installs', async () => {
    const dir = join(tmp, 'own-install');
    const pkg = join(dir, 'node_modules', 'tlbcheck');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    // a stand-in install: the real API plus a marker export
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'tlbcheck', type: 'module', exports: { '.': './index.js' } }));
    writeFileSync(join(pkg, 'index.js'), `export * from ${JSON.stringify(join(ROOT, 'src/index.ts'))};\nexport const origin = 'installed';\n`);
    const model = SMALL_MODEL('x').replace("import { array,", 'import { origin, array,').replace("name: 'x'", 'name: origin');
    writeFileSync(join(dir, 'model.ts'), model);
    mkdirSync(join(tmp, 'no-install'));
    writeFileSync(join(tmp, 'no-install', 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(tmp, 'no-install', 'model.ts'), model);
    const [own, fallback] = await Promise.all([node([BIN, join(dir, 'model.ts'), '--json'], dir), node([BIN, join(tmp, 'no-install', 'model.ts'), '--json'], tmp)]);
    expect([own.code, json(own).model]).toEqual([0, 'installed']);
    // without the install, the running tlbcheck, which has no such export
    expect(fallback.code).toBe(2);
    expect(fallback.err.trim().split('\n')).toHaveLength(1);
    expect(fallback.err).toMatch(/model\.ts: cannot load: .*export named .origin./);
  });

  it('a subpath tlbcheck does not export is a one-line error naming the model and the exports', async () => {
    const dir = join(tmp, 'bad-subpath');
    mkdirSync(join(dir, 'cjs'), { recursive: true });
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'cjs', 'package.json'), JSON.stringify({ type: 'commonjs' }));
    const text = "import { check } from 'tlbcheck/src/engine/check.js';\nexport default check;\n";
    writeFileSync(join(dir, 'm.ts'), text);
    writeFileSync(join(dir, 'cjs', 'm.ts'), text);
    for (const r of await Promise.all([node([BIN, join(dir, 'm.ts')], dir), node([BIN, join(dir, 'cjs', 'm.ts')], dir)])) {
      expect(r.code).toBe(2);
      const lines = r.err.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/m\.ts: cannot load: 'tlbcheck\/src\/engine\/check\.js' is not exported by tlbcheck \(.*\), which exports tlbcheck, tlbcheck\/hw, tlbcheck\/kernel, tlbcheck\/properties, tlbcheck\/vitest$/);
    }
  });
});

describe('tlbcheck init', () => {
  const capture = () => {
    const io = { outText: '', errText: '', out: (s: string) => void (io.outText += s), err: (s: string) => void (io.errText += s) };
    return io;
  };

  it("scaffolds a project whose vitest test, tsc and workflow's tlbcheck ci pass as generated", async () => {
    const io = capture();
    expect(await runInit(app, io)).toBe(0);
    expect(io.errText).toBe('');
    for (const f of ['models/shootdown.ts', 'test/shootdown.test.ts', '.github/workflows/tlbcheck.yml', 'tsconfig.json']) expect(existsSync(join(app, f)), f).toBe(true);
    expect(io.outText).toMatch(/npm install -D vitest typescript/); // app's package.json has only tlbcheck
    expect(JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'))).toEqual({ name: 'app', private: true, type: 'module', dependencies: { tlbcheck: 'file:tlbcheck.tgz' } });

    // the workflow's steps, as written (npm ci aside: the project is installed)
    const workflow = readFileSync(join(app, '.github/workflows/tlbcheck.yml'), 'utf8');
    const steps = [...workflow.matchAll(/^\s+(?:- )?run: (.+)$/gm)].map((m) => m[1]!.trim());
    expect(steps).toEqual(['npm ci', 'npx tlbcheck ci --junit reports/junit.xml --time-limit 900', 'npx vitest run']);
    const [ci, vitest, tsc] = await Promise.all([
      npx(steps[1]!.split(' ').slice(1), app),
      npx(steps[2]!.split(' ').slice(1), app),
      node([TSC, '--noEmit', '-p', '.'], app),
    ]);
    expect(ci.code, ci.out + ci.err).toBe(0);
    expect(ci.out).toMatch(/ci: ok — 3 expectations met/);
    expect(existsSync(join(app, 'reports/junit.xml'))).toBe(true);
    expect(vitest.code, vitest.out + vitest.err).toBe(0);
    expect(vitest.out).toMatch(/Tests\s+\S*\s*2 passed/);
    expect(tsc.out + tsc.err).toBe('');
    expect(tsc.code).toBe(0);
  });

  it('writes package.json and tsconfig.json into an empty directory and never overwrites', async () => {
    const dir = join(tmp, 'fresh', 'My Models');
    const io = capture();
    expect(await runInit(dir, io)).toBe(0);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Record<string, unknown>;
    expect(pkg).toMatchObject({ name: 'my-models', type: 'module', scripts: { check: 'tlbcheck ci', test: 'vitest run' } });
    expect(pkg.devDependencies).toMatchObject({ tlbcheck: `^${OWN.version}` });
    expect(Object.keys(pkg.devDependencies as object).sort()).toEqual(['tlbcheck', 'typescript', 'vitest']);
    expect(JSON.parse(readFileSync(join(dir, 'tsconfig.json'), 'utf8'))).toMatchObject({ compilerOptions: { strict: true }, include: ['models', 'test'] });
    expect(readFileSync(join(dir, 'models/shootdown.ts'), 'utf8')).toBe(readFileSync(join(ROOT, 'templates/init/models/shootdown.ts'), 'utf8'));

    // a second run: one line, exit 2, nothing touched
    writeFileSync(join(dir, 'models/shootdown.ts'), '// mine\n');
    rmSync(join(dir, 'tsconfig.json'));
    const again = capture();
    expect(await runInit(dir, again)).toBe(2);
    expect(again.outText).toBe('');
    expect(again.errText).toMatch(/^tlbcheck: init: .*models\/shootdown\.ts, .*test\/shootdown\.test\.ts, .*tlbcheck\.yml already exist; nothing was written/);
    expect(again.errText.trim().split('\n')).toHaveLength(1);
    expect(readFileSync(join(dir, 'models/shootdown.ts'), 'utf8')).toBe('// mine\n');
    expect(existsSync(join(dir, 'tsconfig.json'))).toBe(false);

    // a file where the directory should be
    const notDir = capture();
    expect(await runInit(join(dir, 'package.json'), notDir)).toBe(2);
    expect(notDir.errText).toMatch(/^tlbcheck: init: .*package\.json is not a directory\n$/);
  });
});
