/**
 * Verdict tables of the seed-strategy models (issue 4) and the key steps of
 * each violation's shortest trace.
 */
import { describe, expect, it } from 'vitest';
import type { ModelDef } from '../src/index.js';
import { run, stepsInOrder, verdictTableTests, type Step } from './helpers/model-tables.js';
import ptiModel from '../models/pti-deferred.js';
import relaxedModel from '../models/relaxed.js';
import nohzModel from '../models/nohz-defer.js';

const models = [ptiModel, relaxedModel, nohzModel] as unknown as ModelDef[];


function traceOf(m: unknown, params: Record<string, number | boolean | string>, inv: string): Step[] {
  const r = run(m as ModelDef, params);
  expect(r.verdict).toBe('violated');
  const v = r.violations.find((x) => x.invariant === inv);
  expect(v).toBeDefined();
  return v!.trace;
}

verdictTableTests(models);

describe('pti-deferred shortest traces', () => {
  it('NMI that flushes between the exit path\'s bt and its CR3 write: the exit writes NOFLUSH, user reads the stale user-PCID entry', () => {
    const t = traceOf(ptiModel, { nmiFlush: 'anywhere' }, 'no-stale-access');
    stepsInOrder(t, [
      /user read va0 via page walk/,
      /SWITCH_TO_USER_CR3: bt 0, .* clear/,
      /^NMI: SAVE_AND_SWITCH_TO_KERNEL_CR3 .*kernel CR3/,
      /NMI handler: flush_tlb_mm_range.*user_pcid_flush_mask=\{0\}/,
      /NMI exit/,
      /write CR3 user pcid2 NOFLUSH/,
      /^user read va0 via stale TLB entry/,
    ]);
  });
  it('NMI from user restoring the user CR3 with NOFLUSH while the bit is pending', () => {
    const t = traceOf(ptiModel, { nmiFlush: 'in-user', nmiRestoreNoflush: true }, 'no-stale-access');
    stepsInOrder(t, [
      /user read va0 via page walk/,
      /NMI: SAVE_AND_SWITCH_TO_KERNEL_CR3 \(saved pcid2 = user CR3/,
      /NMI handler: flush_tlb_mm_range/,
      /PARANOID_RESTORE_CR3: bit pending → write user CR3 pcid2 NOFLUSH/,
      /^user read va0 via stale TLB entry/,
    ]);
  });
  it('switch_mm into a stale slot without marking the user PCID', () => {
    const t = traceOf(ptiModel, { skipSwitchMark: true }, 'no-stale-access');
    const [, , , back] = stepsInOrder(t, [
      /user read va0 via page walk/,
      /switch_mm\(mm1\)/,
      /flush_tlb_mm_range\(mm0.*not loaded here: only tlb_gen\+\+; returns/,
      /switch_mm\(mm0\): asid 0, CR3 write flushing pcid0/,
      /bt 0, user_pcid_flush_mask → clear/,
      /write CR3 user pcid2 NOFLUSH/,
      /^user read va0 via stale TLB entry/,
    ]);
    expect(t[back!]!.description).toMatch(/user_pcid_flush_mask=\{\}/);
  });
});

describe('relaxed shortest traces', () => {
  it('RW→RO on a clean PTE without flush, no D recheck: the write through the stale clean entry lands', () => {
    const t = traceOf(relaxedModel, { change: 'rw-to-ro', skipCleanFlush: true, reclaim: true, dirtySetRechecksPte: false }, 'no-permission-escalation');
    stepsInOrder(t, [/user read va\d via page walk/, /mprotect\(RW→RO\).*PTE clean: no flush/, /user write va\d via stale TLB entry.*sets D in PTE — PTE is READ-ONLY/]);
  });
  it('relaxed flush on a removal: the other CPU keeps writing through its dirty RW entry', () => {
    const t = traceOf(relaxedModel, { change: 'rw-to-ro', relaxedOnRemoval: true }, 'no-permission-escalation');
    const [wr, mp, esc] = stepsInOrder(t, [/user write va\d/, /mprotect\(RW→RO\).*relaxed: local/, /user write va\d via stale TLB entry.*READ-ONLY/]);
    expect(t[esc!]!.cpu).toBe(t[wr!]!.cpu);
    expect(t[mp!]!.cpu).not.toBe(t[esc!]!.cpu);
  });
  it('spurious-fault fixup that does not compare generations: a second stale entry faults again', () => {
    const t = traceOf(relaxedModel, { spuriousFix: 'none' }, 'bounded-spurious-faults');
    stepsInOrder(t, [/mprotect\(RO→RW\).*relaxed/, /#PF.*spurious/, /flush_tlb_fix_spurious_fault: no-op/, /#PF.*spurious/]);
  });
});

describe('nohz-defer shortest traces', () => {
  it('freed PT page: the deferred isolated CPU walks its cached PMD into it', () => {
    const t = traceOf(nohzModel, { freeTable: true }, 'no-freed-table-walk');
    const [fill, , def, , last] = stepsInOrder(t, [/walk va0 via PMD/, /pmd_clear/, /CPU1 in user mode: deferred/, /free PT page 0/, /reads FREED page-table page/]);
    expect(t[fill!]!.cpu).toBe(1);
    expect(t[def!]!.cpu).toBe(0);
    expect(t[last!]!.cpu).toBe(1);
  });
  it('NMI on the isolated CPU reads the range before any entry flush', () => {
    const t = traceOf(nohzModel, { nmiTouches: true }, 'no-stale-access');
    stepsInOrder(t, [/va0/, /vunmap/, /deferred/, /^NMI: read va0 via stale TLB entry/]);
  });
  it('entry path touching the range before the deferred flush', () => {
    const t = traceOf(nohzModel, { entryTouchesBeforeFlush: true }, 'no-stale-access');
    stepsInOrder(t, [/va0/, /vunmap/, /deferred/, /syscall\/IRQ entry/, /^kernel: read va0 via stale TLB entry/]);
  });
});
