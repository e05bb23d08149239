/**
 * One participant of a multi-core run (parallel.ts has the design): the
 * coordinator's own thread and every worker thread run this code.
 *
 * A round: claim chunks of the current level (claimNext: from this
 * participant's own range of it first, up to the round's maxClaim states,
 * fewer toward a range's end), expand them in batches exactly like explore.ts does
 * (batch.ts: diff emit, symmetry canonicalisation, hash, filter + touch),
 * and insert every successor, in order, into the shared table; a state that
 * is new there is appended to the participant's own segment of the next
 * level, with its parent id and action, and checked against the invariants.
 * The round ends when the level is exhausted, or at a chunk boundary once a
 * table must grow (PAUSE) or the run must stop (STOP).
 */
import type { CompiledModel } from './compile.js';
import { AsymmetryFault, makeCanonicalizer } from './symmetry.js';
import { createSharedTable, rehashShare, slotFormat } from './shared-table.js';
import { BATCH, countPremiseMask, createBatch } from './batch.js';
import { RECENT_FILTER_MAX_FRACTION, recentFilterBytesFor } from './recent-filter.js';
import { actionView, claimNext, collectGarbage, Ctl, LimitCode, type DoneMsg, type ParticipantOptions, type RehashMsg, type RunMsg, type WorkerViolation } from './parallel-protocol.js';

export interface Participant {
  /** Work on the level until it is done, PAUSE or STOP; `tick` runs after every chunk. */
  round(r: RunMsg, tick?: () => void): DoneMsg;
  /** This participant's share of moving the table into a bigger one; returns the entries it left to the coordinator. */
  rehash(m: RehashMsg): number[];
}

/*
 * A participant's recent-lookup filter grows to a quarter of the visited set
 * (RECENT_FILTER_MAX_FRACTION), up to 32 MiB, with no bytes/state budget
 * (one thread's takes a sixteenth, and a quarter only within 32 B/state:
 * recent-filter.ts). With two threads probing the table at once a probe
 * costs more, so a bigger filter pays more. Measured on N=6 P=2 K=1 sync,
 * 2 workers, alternating runs: a sixteenth 4.8-5.0 table lookups per state,
 * 5.32-5.50 s; a quarter 3.5-3.6, 5.14-5.19 s.
 */

export function createParticipant(model: CompiledModel, opt: ParticipantOptions): Participant {
  const { layout, invariants } = model;
  const W = layout.words;
  const nInst = model.instances.length;
  const KM = nInst + 1;
  const format = slotFormat(opt.store, layout);
  const table = createSharedTable(format, layout.hash);
  const sym = makeCanonicalizer(layout, opt.symmetry);
  const ctrl = new Int32Array(opt.ctrl);
  const parts = opt.parts;
  const maxStates = opt.maxStates ?? Infinity;
  const maxDepth = opt.maxDepth ?? Infinity;
  const deadline = opt.deadline ?? Infinity;
  const memoryLimit = opt.memoryLimitBytes;
  const endState = model.machine.endState;
  const holds = invariants.map((i) => i.holds);
  const premises = invariants.map((i) => i.premise);
  const anyPremise = premises.some((p) => p);

  const base = layout.makeView();
  const fresh = layout.makeView();
  // Its recent-duplicate filter holds states of the shared table, which only
  // grows, so it stays valid across rounds and rehashes. It grows with the
  // table (see above); that pays because each participant expands a
  // contiguous range of the level (claimNext), as one thread would.
  const batch = createBatch(model, sym);
  const span = new Int32Array(2);
  const { out, ks, hs, dup, ends } = batch;
  /** The coordinator's buffer generation last seen: replaced buffers are freed by collecting. */
  let gen = 0;
  let lastRss = -Infinity;

  const setLimit = (code: LimitCode) => {
    Atomics.compareExchange(ctrl, Ctl.LIMIT, 0, code);
    Atomics.store(ctrl, Ctl.STOP, 1);
  };

  const round = (r: RunMsg, tick?: () => void): DoneMsg => {
    if (r.gen !== gen) {
      gen = r.gen;
      collectGarbage();
    }
    table.attach(r.table, r.cap);
    batch.fitFilter(recentFilterBytesFor(r.storeBytes, undefined, RECENT_FILTER_MAX_FRACTION));
    const cur = new Uint32Array(r.cur);
    const seg = new Uint32Array(r.seg.words);
    const segParent = new Int32Array(r.seg.parent);
    const segAction = actionView(r.seg.action, nInst);
    const segCap = Math.min(seg.length / W, segParent.length, segAction.length);
    let segN = r.seg.n;
    const { curN, levelStart, depth, growAt, maxClaim } = r;
    const levelEnd = levelStart + curN;
    const premiseCounts = invariants.map((i) => (i.premise ? 0 : -1));
    const fired = new Uint8Array(nInst);
    const violated = new Set(r.violated);
    const violations: WorkerViolation[] = [];
    const words = (buf: Uint32Array, off: number) => Array.from(buf.subarray(off, off + W));
    let transitions = 0;
    let expanded = 0;
    /** New states not yet added to ctrl[COUNT]. */
    let unflushed = 0;
    const done = (extra: Partial<DoneMsg> = {}): DoneMsg => {
      Atomics.add(ctrl, Ctl.COUNT, unflushed);
      return { type: 'done', transitions, expanded, segN, filterBytes: batch.filterBytes(), fired, premiseCounts, violations, ...extra };
    };
    try {
      outer: for (;;) {
        if (Atomics.load(ctrl, Ctl.STOP) !== 0 || Atomics.load(ctrl, Ctl.PAUSE) !== 0) break;
        if (!claimNext(ctrl, r.part, parts, curN, maxClaim, span)) break;
        const s0 = span[0]!;
        const s1 = span[1]!;
        for (let b0 = s0; b0 < s1; b0 += BATCH) {
          const b1 = Math.min(s1, b0 + BATCH);
          // 1. Expand the batch; 2. hash, filter and touch (batch.ts).
          const total = batch.expand(cur, b0, b1, levelStart);
          expanded += b1 - b0;
          batch.prepareLookups(total, table.touch);
          // 3. Insert in order.
          let i = 0;
          for (let j = b0; j < b1; j++) {
            const id = levelStart + j;
            const e = ends[j - b0]!;
            if (i === e) {
              if (!opt.noDeadlock && !violated.has('deadlock')) {
                layout.unpack(cur, j * W, base);
                if (!(endState && endState(base))) {
                  violated.add('deadlock');
                  violations.push({ name: 'deadlock', kind: 'deadlock', stateId: id, local: -1, key: j * KM, words: words(cur, j * W) });
                  if (!opt.all) {
                    Atomics.store(ctrl, Ctl.STOP, 1);
                    break outer;
                  }
                }
              }
              continue;
            }
            transitions += e - i;
            const i0 = i;
            for (; i < e; i++) {
              const k = ks[i]!;
              fired[k] = 1;
              if (dup[i] === 1) continue;
              if (!table.insert(out, i * W, hs[i]!)) continue;
              if (depth >= maxDepth) {
                setLimit(LimitCode.MAX_DEPTH);
                break outer;
              }
              const local = segN++;
              unflushed++;
              const no = local * W;
              for (let k2 = 0; k2 < W; k2++) seg[no + k2] = out[i * W + k2]!;
              segParent[local] = id;
              segAction[local] = k;
              // Tabulated invariants first; the views decide the rest.
              const pm = batch.invariantsHold(out, i * W);
              if (pm >= 0) {
                if (pm !== 0) countPremiseMask(pm, premiseCounts);
              } else {
                layout.unpack(out, i * W, fresh);
                for (let v = 0; v < holds.length; v++) {
                  if (!holds[v]!(fresh)) {
                    const name = invariants[v]!.name;
                    if (!violated.has(name)) {
                      violated.add(name);
                      violations.push({ name, kind: 'invariant', stateId: -1, local, key: j * KM + (i - i0) + 1, words: words(out, i * W) });
                      if (!opt.all) {
                        Atomics.store(ctrl, Ctl.STOP, 1);
                        break outer;
                      }
                    }
                  }
                }
                if (anyPremise)
                  for (let v = 0; v < premises.length; v++) {
                    const p = premises[v];
                    if (p && p(fresh)) premiseCounts[v]!++;
                  }
              }
              // (Atomics.load is a builtin call: only with a limit to check.)
              if (maxStates !== Infinity && levelEnd + Atomics.load(ctrl, Ctl.COUNT) + unflushed >= maxStates) {
                setLimit(LimitCode.MAX_STATES);
                break outer;
              }
            }
          }
        }
        // Chunk boundary: publish the count; ask for bigger tables before
        // the headroom the coordinator reserved could run out.
        const count = Atomics.add(ctrl, Ctl.COUNT, unflushed) + unflushed;
        unflushed = 0;
        if (levelEnd + count >= growAt || segN + maxClaim * Math.max(nInst, 1) > segCap) Atomics.store(ctrl, Ctl.PAUSE, 1);
        const now = Date.now();
        if (now > deadline) setLimit(LimitCode.TIME);
        // RSS is a /proc read (~35 µs): at most every 50 ms.
        if (memoryLimit > 0 && now - lastRss >= 50) {
          lastRss = now;
          if (process.memoryUsage.rss() > memoryLimit) setLimit(LimitCode.MEMORY);
        }
        tick?.();
      }
    } catch (e) {
      Atomics.store(ctrl, Ctl.STOP, 1);
      if (e instanceof AsymmetryFault) return done({ asymmetry: e.message });
      return done({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
    return done();
  };

  return {
    round,
    rehash(m) {
      return rehashShare(format, layout.hash, m, m.part, m.parts);
    },
  };
}
