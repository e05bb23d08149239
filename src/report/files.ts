/** Writing report files next to a check run (--trace-out, --html). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export function writeFileMkdir(file: string, text: string): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, text);
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
