// The model's verdicts as vitest tests (`npx vitest run`). A failing toHold()
// prints the counterexample as a race diagram.
import { describe, expect, it } from 'vitest';
import { check } from 'tlbcheck/vitest'; // registers toHold() and toViolate()
import shootdown from '../models/shootdown.ts';

describe('shootdown', () => {
  it('is safe: every CPU flushes before the page is freed', async () => {
    expect(await check(shootdown)).toHold();
    expect(await check(shootdown, { N: 3 })).toHold();
  });

  it('is unsafe when only the local TLB is flushed', async () => {
    expect(await check(shootdown, { remoteFlush: false })).toViolate('no-stale-access');
  });
});
