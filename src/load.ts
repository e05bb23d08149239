/**
 * Loading model files (TypeScript, compiled on the fly by tsx's loader that
 * bin/tlbcheck.js registers). Every failure becomes a one-line UsageError.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { register as registerTsxRequire } from 'tsx/cjs/api';
import { tsImport } from 'tsx/esm/api';
import { isModelDef, type ModelDef } from './engine/model.js';
import { registerSelfResolve } from './self-resolve.mjs';

export class UsageError extends Error {}

export async function loadModel(file: string): Promise<ModelDef> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new UsageError(`model file not found: ${file}`);
  if (!statSync(abs).isFile()) throw new UsageError(`model path is not a file: ${file}`);
  let mod: Record<string, unknown>;
  prepareModelLoading();
  try {
    // tsImport compiles TypeScript wherever the file lives (also outside a
    // "type": "module" package, where a plain import() would treat it as CommonJS).
    mod = (await tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(loadErrorText(file, e));
  }
  const def = moduleExport(mod);
  if (def === undefined) throw new UsageError(`${file}: no default export (export default defineModel({...}))`);
  if (!isModelDef(def)) throw new UsageError(`${file}: the default export is not a model made with defineModel()`);
  return def;
}

let prepared = false;

/**
 * Once per thread, before the first model is imported: `tlbcheck` and
 * `tlbcheck/*` resolve to this package when the model's directory has none
 * installed (self-resolve.mjs), and tsx also compiles TypeScript that plain
 * CommonJS require()s (a `.js` model in a CommonJS directory that does
 * `require('tlbcheck')`), which tsImport alone leaves to Node.
 */
export function prepareModelLoading(): void {
  if (prepared) return;
  prepared = true;
  registerSelfResolve();
  registerTsxRequire();
}

/**
 * An export of an imported model file, `default` unless named. A model in a
 * CommonJS directory (package.json without "type": "module", or none) is
 * compiled to CommonJS, and importing it yields its module.exports as the
 * default: the export is then that object's property (esbuild marks such an
 * object with __esModule).
 */
export function moduleExport(mod: Record<string, unknown>, name = 'default'): unknown {
  const v = mod[name];
  if (isModelDef(v)) return v;
  const cjs = mod.default;
  if (typeof cjs === 'object' && cjs !== null && (cjs as { __esModule?: unknown }).__esModule) return (cjs as Record<string, unknown>)[name];
  return v;
}

function loadErrorText(file: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // esbuild (via tsx): "Transform failed with 1 error:\n/path/x.ts:3:8: ERROR: Unexpected "=""
  const m = /([^\s:]+\.[cm]?[tj]sx?):(\d+):(\d+): ERROR: (.*)/.exec(msg);
  if (m) return `${file}:${m[2]}:${m[3]}: syntax error: ${m[4]}`;
  // ESM: "The requested module 'tlbcheck' does not provide an export named 'x'" is a link error, not a syntax error
  if (e instanceof SyntaxError && /does not provide an export named/.test(msg)) return `${file}: cannot load: ${msg.split('\n')[0]}`;
  if (e instanceof SyntaxError) {
    const loc = /(\S+\.[cm]?[tj]sx?):(\d+)/.exec(e.stack ?? '');
    return `${loc ? `${file}:${loc[2]}` : file}: syntax error: ${msg}`;
  }
  const code = (e as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED' || / is not exported by tlbcheck /.test(msg))
    return `${file}: cannot load: ${msg.split('\n')[0]}`;
  return `${file}: loading the model threw: ${msg.split('\n')[0]}`;
}
