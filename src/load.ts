/**
 * Loading model files (TypeScript, compiled on the fly by tsx's loader that
 * bin/tlbcheck.js registers). Every failure becomes a one-line UsageError.
 */
import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import { isModelDef, type ModelDef } from './engine/model.js';

export class UsageError extends Error {}

export async function loadModel(file: string): Promise<ModelDef> {
  const abs = resolve(file);
  if (!existsSync(abs)) throw new UsageError(`model file not found: ${file}`);
  if (!statSync(abs).isFile()) throw new UsageError(`model path is not a file: ${file}`);
  let mod: Record<string, unknown>;
  try {
    // tsImport compiles TypeScript wherever the file lives (also outside a
    // "type": "module" package, where a plain import() would treat it as CommonJS).
    mod = (await tsImport(pathToFileURL(abs).href, import.meta.url)) as Record<string, unknown>;
  } catch (e) {
    throw new UsageError(loadErrorText(file, e));
  }
  const def = mod.default;
  if (def === undefined) throw new UsageError(`${file}: no default export (export default defineModel({...}))`);
  if (!isModelDef(def)) throw new UsageError(`${file}: the default export is not a model made with defineModel()`);
  return def;
}

function loadErrorText(file: string, e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  // esbuild (via tsx): "Transform failed with 1 error:\n/path/x.ts:3:8: ERROR: Unexpected "=""
  const m = /([^\s:]+\.[cm]?[tj]sx?):(\d+):(\d+): ERROR: (.*)/.exec(msg);
  if (m) return `${file}:${m[2]}:${m[3]}: syntax error: ${m[4]}`;
  if (e instanceof SyntaxError) {
    const loc = /(\S+\.[cm]?[tj]sx?):(\d+)/.exec(e.stack ?? '');
    return `${loc ? `${file}:${loc[2]}` : file}: syntax error: ${msg}`;
  }
  const code = (e as { code?: string }).code;
  if (code === 'ERR_MODULE_NOT_FOUND') return `${file}: cannot load: ${msg.split('\n')[0]}`;
  return `${file}: loading the model threw: ${msg.split('\n')[0]}`;
}
