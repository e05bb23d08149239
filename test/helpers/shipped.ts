/** What several test files check against: the spec's reference rows and every shipped model. */
import shootdown from '../../models/bench/shootdown.ts';
import syncModel from '../../models/sync.ts';
import asyncModel from '../../models/async.ts';
import lazyModel from '../../models/lazy.ts';
import concurrentModel from '../../models/concurrent.ts';
import ptiModel from '../../models/pti-deferred.ts';
import relaxedModel from '../../models/relaxed.ts';
import nohzModel from '../../models/nohz-defer.ts';
import switchWindowModel from '../../models/switch-window.ts';
import textPokeModel from '../../models/text-poke.ts';
import madvNestedModel from '../../models/madv-nested.ts';
import gupPvFreeModel from '../../models/gup-pv-free.ts';
import lazyCpumaskModel from '../../models/lazy-cpumask.ts';
import mprotectReclaimModel from '../../models/mprotect-reclaim.ts';
import mremapTruncateModel from '../../models/mremap-truncate.ts';
import pfnmapUnmapModel from '../../models/pfnmap-unmap.ts';
import tceFreePgtablesModel from '../../models/tce-free-pgtables.ts';
import invlpgbCollapseModel from '../../models/invlpgb-collapse.ts';
import kvmPvFlushModel from '../../models/kvm-pv-flush.ts';
import arm64FreePgtablesModel from '../../models/arm64-free-pgtables.ts';
import type { ModelDef } from '../../src/index.ts';

/** ../shared/bench/shootdown-spec.md reference rows: N, P, K, VARIANT, states, transitions, depth. */
export const SPEC_TABLE: readonly [number, number, number, 'sync' | 'async', number, number, number][] = [
  [2, 1, 1, 'sync', 28, 88, 5],
  [2, 1, 1, 'async', 52, 180, 6],
  [2, 1, 2, 'sync', 52, 168, 8],
  [2, 1, 2, 'async', 116, 420, 10],
  [2, 2, 1, 'sync', 384, 2048, 10],
  [2, 2, 1, 'async', 880, 5040, 12],
  [2, 2, 2, 'sync', 1104, 5952, 16],
  [2, 2, 2, 'async', 2896, 16928, 20],
  [3, 1, 1, 'sync', 166, 786, 7],
  [3, 1, 1, 'async', 490, 2604, 9],
  [3, 1, 2, 'sync', 324, 1548, 11],
  [3, 1, 2, 'async', 1452, 7998, 15],
  [3, 2, 1, 'sync', 5056, 39552, 14],
  [3, 2, 1, 'async', 23896, 206016, 18],
  [3, 2, 2, 'sync', 14976, 117504, 22],
  [3, 2, 2, 'async', 92064, 804192, 30],
];

/** Every model under models/, by name. */
export const SHIPPED_MODELS: readonly [string, ModelDef][] = [
  ['sync', syncModel as ModelDef],
  ['async', asyncModel as ModelDef],
  ['lazy', lazyModel as ModelDef],
  ['concurrent', concurrentModel as ModelDef],
  ['shootdown', shootdown as ModelDef],
  ['pti-deferred', ptiModel as ModelDef],
  ['relaxed', relaxedModel as ModelDef],
  ['nohz-defer', nohzModel as ModelDef],
  ['switch-window', switchWindowModel as ModelDef],
  ['text-poke', textPokeModel as ModelDef],
  ['madv-nested', madvNestedModel as ModelDef],
  ['gup-pv-free', gupPvFreeModel as ModelDef],
  ['lazy-cpumask', lazyCpumaskModel as ModelDef],
  ['mprotect-reclaim', mprotectReclaimModel as ModelDef],
  ['mremap-truncate', mremapTruncateModel as ModelDef],
  ['pfnmap-unmap', pfnmapUnmapModel as ModelDef],
  ['tce-free-pgtables', tceFreePgtablesModel as ModelDef],
  ['invlpgb-collapse', invlpgbCollapseModel as ModelDef],
  ['kvm-pv-flush', kvmPvFlushModel as ModelDef],
  ['arm64-free-pgtables', arm64FreePgtablesModel as ModelDef],
];
