/**
 * Writing report files (--trace-out, --html, ci's reports). Paths are checked
 * before a search starts (checkWritable), and every file is written to a
 * temporary name and renamed into place, so a reader never sees half a
 * report and a failed write leaves nothing behind.
 */
import { closeSync, existsSync, mkdirSync, openSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { UsageError } from '../load.js';

/**
 * mkdir -p, one level at a time: Node's recursive mkdirSync never returns
 * for a missing directory under /proc (it retries ENOENT forever).
 */
export function mkdirs(dir: string): void {
  const missing: string[] = [];
  let d = resolve(dir);
  while (!existsSync(d)) {
    missing.push(d);
    const up = dirname(d);
    if (up === d) break;
    d = up;
  }
  if (existsSync(d) && !statSync(d).isDirectory()) throw new Error(`${d} is not a directory`);
  for (const m of missing.reverse()) mkdirSync(m);
}

/** Remove a file if it is there; a path that cannot exist (under a plain file) is not an error. */
function removeQuietly(f: string): void {
  try {
    rmSync(f, { force: true });
  } catch {
    /* nothing was created there */
  }
}

const reason = (e: unknown) => {
  const err = e as NodeJS.ErrnoException;
  if (!err.code) return String((e as Error).message ?? e);
  const why: Record<string, string> = { ENOTDIR: 'a parent is not a directory', ENOENT: 'no such directory', EACCES: 'permission denied', EROFS: 'read-only file system', EISDIR: 'it is a directory' };
  return `${why[err.code] ?? err.code} (${err.code})`;
};

/** Make sure `file` can be written (its directory is created): a UsageError naming `what` if not. */
export function checkWritable(file: string, what: string): void {
  const probe = `${file}.tlbcheck-probe-${process.pid}`;
  try {
    if (existsSync(file) && statSync(file).isDirectory()) throw new Error('it is a directory');
    mkdirs(dirname(file));
    closeSync(openSync(probe, 'wx'));
    unlinkSync(probe);
  } catch (e) {
    removeQuietly(probe);
    throw new UsageError(`cannot write ${what} ${file}: ${reason(e)}`);
  }
}

/** Write `text` to `file` (creating its directory) through a temporary file and a rename. */
export function writeFileMkdir(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    mkdirs(dirname(file));
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (e) {
    removeQuietly(tmp);
    throw new UsageError(`cannot write ${file}: ${reason(e)}`);
  }
}

/** FILE for the first violation, FILE with ".2", ".3", … before its extension for the next ones. */
export function numberedFile(file: string, i: number): string {
  if (i === 0) return file;
  const m = /^(.*?)(\.[^./\\]+)?$/.exec(file)!;
  return `${m[1]}.${i + 1}${m[2] ?? ''}`;
}

/**
 * JSON with objects indented and arrays of scalars (or of such arrays) kept
 * on one line: a trace's states stay readable and diff line by line.
 */
export function compactJson(x: unknown, indent = ''): string {
  const flat = (y: unknown): boolean => (Array.isArray(y) ? y.every(flat) : typeof y !== 'object' || y === null);
  if (Array.isArray(x)) {
    if (flat(x)) return JSON.stringify(x);
    const inner = indent + '  ';
    return `[\n${x.map((y) => inner + compactJson(y, inner)).join(',\n')}\n${indent}]`;
  }
  if (typeof x === 'object' && x !== null) {
    const entries = Object.entries(x).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${compactJson(v, inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(x);
}
