/**
 * deadlock freedom: every reachable state either enables some action or is a
 * declared end state (all operations finished, every CPU idle). This is the
 * engine's built-in deadlock check; models declare their legitimate terminal
 * states with `endState` (see `allIdle` in each model).
 *
 * Caveat: hardware background actions (speculative walks, evictions, user
 * accesses) may stay enabled while the protocol itself is stuck (e.g. an
 * initiator spinning in csd_lock_wait() with IRQs off while its target spins
 * for it). Models keep those actions from looping (walks fire only when they
 * change something, nothing refills a cleared PTE), so such a state still ends
 * in a state without enabled actions and is reported as a deadlock.
 */
export const DEADLOCK = 'deadlock';
