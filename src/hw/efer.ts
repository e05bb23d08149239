/**
 * EFER.TCE (AMD Translation Cache Extension, EFER bit 15) as per-CPU state,
 * for models whose race depends on it. Opt-in: a model that does not spread
 * `eferFields()` into its state runs every CPU with TCE=0, the Intel
 * behaviour (Linux sets TCE only on AMD CPUs that have it, since the 2025
 * INVLPGB series).
 *
 * The rule (AMD APM Vol. 2, EFER.TCE): with TCE=0, INVLPG and INVPCID by
 * address remove the target PTE and every upper-level entry cached for the
 * PCID, whatever address it leads to (as Intel SDM Vol. 3A §4.10.4.1 says of
 * INVLPG); with TCE=1 they remove only the upper-level entries that lead to
 * the target PTE. Here that is the paging-structure-cache entry of the
 * address's PMD slot: the others survive, and with them any walk through a
 * page-table page the flush did not cover.
 */
import { array, bool } from '../engine/types.js';
import type { View } from '../engine/types.js';
import type { HwShape } from './shape.js';

export function eferFields(sh: Pick<HwShape, 'CPU'>, init: { tce?: boolean } = {}) {
  return { eferTce: array(sh.CPU, bool({ init: init.tce ?? false })) };
}
export type EferView = View<ReturnType<typeof eferFields>>;

/** CPU c's EFER.TCE (off when the model has no EFER fields). */
export const eferTceOf = (s: unknown, c: number): boolean => (s as Partial<EferView>).eferTce?.[c] ?? false;
