/** Every shipped bug toggle through `tlbcheck simulate` (test/simulate.test.ts runs a few). */
import { describe, it } from 'vitest';
import { foundAtN6, N6_TOGGLES, SHRINK_ROWS, shrunkWithinTwiceShortest } from '../helpers/simulate-rows.js';

describe('shrinking, every shipped bug toggle', () => {
  it.each(SHRINK_ROWS)('%s %j: the shrunk trace is at most twice the BFS shortest, and replays', (_name, params, def) => shrunkWithinTwiceShortest(params, def));
});

describe('bug toggles at N=6, where exhaustive search does not finish', () => {
  it.each(N6_TOGGLES)('%s %j at N=6: found within 30 s, a valid trace', (_name, params, def, invariant) => foundAtN6(params, def, invariant));
});
