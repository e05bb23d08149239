import type { StateDecl } from '../src/engine/types.js';
import type { InvariantDef } from '../src/engine/model.js';
import { NONE } from '../src/engine/types.js';
import { accessGhostsFor } from '../src/hw/ghost.js';

/**
 * no-wider-permission (INV-PERM): once an operation that narrowed a PTE's
 * permissions has returned (mprotect(PROT_READ) after its flush), no CPU
 * accesses the page through a TLB entry filled before it for more than the
 * operation left: no write after PROT_READ, nothing after PROT_NONE. Reads
 * through an old entry after PROT_READ are not violations, whatever else
 * happened to the PTE meanwhile (no-stale-access is the stricter property,
 * for flushes that promise that no old entry is used at all).
 *
 * Ghost (hw/ghost.ts accessGhostFields, which the model must declare): the
 * narrowing operation calls permissionNarrowed() (kernel/mprotect.ts) when
 * it returns, and hw/access.ts latches `widerPermUse` with the first CPU
 * that makes such an access.
 */
export function noWiderPermission<D extends StateDecl>(): InvariantDef<D> {
  const g = accessGhostsFor('no-wider-permission');
  return {
    doc: 'No access through an old TLB entry for more than a returned permission-narrowing operation (mprotect) left allowed.',
    holds: (s) => g(s).widerPermUse === NONE,
    explain: (s) => `CPU${g(s).widerPermUse} accessed memory through an old TLB entry for more than an mprotect that had already returned left allowed`,
  };
}
