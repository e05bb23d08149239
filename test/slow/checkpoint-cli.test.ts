/**
 * --checkpoint/--resume through the CLI on two worker threads (the
 * in-process sessions of test/checkpoint.test.ts cover one thread and two,
 * in both directions): a time-limit stop, then resumed runs to the end.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const dir = join('tmp', `checkpoint-cli-${process.pid}`);
mkdirSync(dir, { recursive: true });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('checkpoints of a multi-core CLI run', () => {
  it('the CLI with --workers 2: a checkpoint of two threads resumes', () => {
    const ck = join(dir, 'cli-workers.ckpt');
    const cli = (...a: string[]) => spawnSync(process.execPath, ['bin/tlbcheck.js', 'models/bench/shootdown.ts', '--set', 'N=5', '--set', 'P=2', ...a], { encoding: 'utf8' });
    const first = cli('--workers', '2', '--time-limit', '0.5', '--checkpoint', ck);
    expect(first.status, first.stderr).toBe(3);
    expect(first.stdout).toMatch(/checkpoint: .*cli-workers\.ckpt \([\d,]+ states\); go on with --resume/);
    // (The in-process sessions above go from two threads to one and back.)
    let last = first;
    for (let sessions = 0; sessions < 50 && last.status === 3; sessions++) last = cli('--resume', ck, '--workers', '2', '--time-limit', '3');
    expect(last.status, last.stderr).toBe(0);
    expect(last.stdout).toContain('shootdown: 804,096 states, 10,641,920 transitions, depth 22');
  });
});
