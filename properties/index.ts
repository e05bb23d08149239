/** Generic TLB-protocol properties over the ghost interface of src/hw and src/kernel. */
import type { StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import { noFreedTableWalk } from './no-freed-table-walk.js';
import { noLostDirty } from './no-lost-dirty.js';
import { noStaleAccess } from './no-stale-access.js';
import { noUseAfterFree } from './no-use-after-free.js';
import { nmiUaccessCurrentMm, wrongMmUaccessFields } from './nmi-uaccess-current-mm.js';
import { noTextWriteAfterPoke } from './no-text-write-after-poke.js';
import { noHandlerWriteDuringPoke } from './no-handler-write-during-poke.js';
import { noWiderPermission } from './no-wider-permission.js';
import { noDirtyAfterHarvest } from './no-dirty-after-harvest.js';

export { noStaleAccess, noLostDirty, noFreedTableWalk, noUseAfterFree, nmiUaccessCurrentMm, wrongMmUaccessFields };
export { noTextWriteAfterPoke, noHandlerWriteDuringPoke, noWiderPermission, noDirtyAfterHarvest };
export { DEADLOCK } from './deadlock.js';
export { eventuallyLeaves, flushReturns, ipiHandlerLeaves } from './flush-returns.js';

/** The four core invariants, under their canonical names (no-stale-access first). */
export function coreProperties<D extends StateDecl>(): Record<string, InvariantDef<D>> {
  return {
    'no-stale-access': noStaleAccess<D>(),
    'no-lost-dirty': noLostDirty<D>(),
    'no-freed-table-walk': noFreedTableWalk<D>(),
    'no-use-after-free': noUseAfterFree<D>(),
  };
}
