// `import … from 'tlbcheck'` in a model file that lives where no tlbcheck is
// installed (a scratch directory, another repository without node_modules)
// resolves to the tlbcheck package that is running the model: the CLI that
// loads a model IS tlbcheck. A model whose directory can resolve tlbcheck
// (installed in an ancestor's node_modules) gets that copy, as Node would
// resolve it; only "no tlbcheck package at all" falls back to this one.
//
// Plain JavaScript, because the ESM half is a Node module-resolution hook
// (module.register) that runs in Node's hooks thread, where tsx is not. The
// CommonJS half wraps Module._resolveFilename: a .ts/.js model in a CommonJS
// (or package.json-less) directory is compiled by tsx to CommonJS and its
// imports become require() calls, which Node 20's ESM hooks do not see.
// Both fall back by resolving the same specifier from a file inside this
// package (a package self-reference through its "exports"), so a subpath
// tlbcheck does not export is an error, as it would be when installed.
import { existsSync, readFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** A file inside this package: resolving `tlbcheck` from here is a self-reference. */
const SELF_URL = new URL('./index.ts', import.meta.url).href;
const SELF_FILE = fileURLToPath(SELF_URL);

/** What this package exports, as import specifiers (for the error on any other). */
function exported() {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  return Object.keys(pkg.exports ?? {})
    .filter((k) => k !== './package.json')
    .map((k) => (k === '.' ? 'tlbcheck' : `tlbcheck/${k.slice(2)}`));
}

/**
 * The fallback's own failure, named for what the model asked: a subpath this
 * package does not export (Node's message would name the file in this package
 * it resolved from instead of the model).
 * @param {string} specifier @param {unknown} e
 */
function notExported(specifier, e) {
  const code = /** @type {{ code?: string }} */ (e).code;
  if (code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED' && code !== 'MODULE_NOT_FOUND') return e;
  const err = new Error(`'${specifier}' is not exported by tlbcheck (${fileURLToPath(new URL('..', import.meta.url))}), which exports ${exported().join(', ')}`);
  return Object.assign(err, { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' });
}

/** @param {string} specifier */
export const isTlbcheckSpecifier = (specifier) => specifier === 'tlbcheck' || specifier.startsWith('tlbcheck/');

/**
 * Whether a tlbcheck package is installed where Node looks from this file:
 * node_modules/tlbcheck in its directory or an ancestor. When one is, its own
 * resolution error stands (a broken install is reported, not papered over).
 * @param {string | undefined} parentFile
 */
function installedFor(parentFile) {
  if (!parentFile) return false;
  for (let dir = dirname(parentFile); ; ) {
    if (existsSync(join(dir, 'node_modules', 'tlbcheck', 'package.json'))) return true;
    const up = dirname(dir);
    if (up === dir) return false;
    dir = up;
  }
}

/** @param {string | undefined} url */
function fileOf(url) {
  if (!url?.startsWith('file:')) return undefined;
  try {
    return fileURLToPath(url.split('?')[0]);
  } catch {
    return undefined;
  }
}

/**
 * The ESM resolve hook (module.register loads this file in the hooks thread).
 * @param {string} specifier
 * @param {{ parentURL?: string, conditions?: string[], importAttributes?: object }} context
 * @param {(specifier: string, context?: object) => Promise<{ url: string }>} next
 */
export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context);
  } catch (e) {
    if (!isTlbcheckSpecifier(specifier) || /** @type {{ code?: string }} */ (e).code !== 'ERR_MODULE_NOT_FOUND') throw e;
    if (installedFor(fileOf(context.parentURL))) throw e;
    try {
      return await next(specifier, { ...context, parentURL: SELF_URL });
    } catch (e2) {
      throw notExported(specifier, e2);
    }
  }
}

let registered = false;

/**
 * Install both halves in this thread (once; later calls do nothing). Call it
 * before the model is imported: tsx's per-import CommonJS resolver wraps the
 * Module._resolveFilename it finds, so this one must already be in place.
 */
export function registerSelfResolve() {
  if (registered) return;
  registered = true;
  Module.register(import.meta.url);

  /** @type {{ _resolveFilename: (request: string, parent: unknown, isMain?: boolean, options?: unknown) => string, _nodeModulePaths: (dir: string) => string[] }} */
  const M = /** @type {any} */ (Module);
  const original = M._resolveFilename;
  const selfParent = { id: SELF_FILE, filename: SELF_FILE, paths: M._nodeModulePaths(dirname(SELF_FILE)) };
  M._resolveFilename = function resolveFilename(request, parent, isMain, options) {
    try {
      return original.call(this, request, parent, isMain, options);
    } catch (e) {
      if (!isTlbcheckSpecifier(request) || /** @type {{ code?: string }} */ (e).code !== 'MODULE_NOT_FOUND') throw e;
      if (installedFor(/** @type {{ filename?: string } | undefined} */ (parent)?.filename)) throw e;
      try {
        return original.call(this, request, selfParent, isMain, options);
      } catch (e2) {
        throw notExported(request, e2);
      }
    }
  };
}
