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
 * The round ends when the level is exhausted, or after a batch once a
 * table must grow (PAUSE) or the run must stop (STOP); the rest of a claim
 * it stopped in is expanded first in the next round.
 */
import type { CompiledModel } from './compile.js';
import { AsymmetryFault, makeCanonicalizer } from './symmetry.js';
import { createSharedTable, rehashShare, slotFormat } from './shared-table.js';
import { countPremiseMask, createBatch } from './batch.js';
import { RECENT_FILTER_MAX_FRACTION, recentFilterBytesFor } from './recent-filter.js';
import { actionView, claimNext, collectGarbage, Ctl, LimitCode, type DoneMsg, type ParticipantOptions, type RehashMsg, type RunMsg, type WorkerViolation } from './parallel-protocol.js';

export interface Participant {
  /**
   * Collect garbage when the coordinator's buffer generation (RunMsg.gen)
   * moved since the last call; called before round(), not in it (see
   * "A round is two functions" below).
   */
  collect(gen: number): void;
  /** Work on the level until it is done, PAUSE or STOP; `tick` runs after every chunk. */
  round(r: RunMsg, tick?: () => void): DoneMsg;
  /** This participant's share of moving the table into a bigger one; returns the entries it left to the coordinator. */
  rehash(m: RehashMsg): number[];
}

/** One round's buffers and results: round() sets it up, expandClaims() fills it. */
interface RoundState extends Pick<RunMsg, 'part' | 'curN' | 'levelStart' | 'depth' | 'growAt' | 'maxClaim' | 'resumeFrom' | 'resumeTo'> {
  // (RunMsg's numbers are copied in: see "A round is two functions".)
  tick: (() => void) | undefined;
  cur: Uint32Array;
  seg: Uint32Array;
  segParent: Int32Array;
  segAction: Uint8Array | Uint16Array | Uint32Array;
  segCap: number;
  segN: number;
  premiseCounts: number[];
  fired: Uint8Array;
  violated: Set<string>;
  violations: WorkerViolation[];
  transitions: number;
  expanded: number;
  unflushed: number;
  leftFrom: number;
  leftTo: number;
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

  /*
   * A round is two functions: round() sets up and reports, expandClaims()
   * is the loop. V8's optimizing compiler turns a call or an operation it
   * has never seen run into a deoptimization: the function's compiled code,
   * inlined callees and all, is thrown away, and it runs slow until
   * compiled again. Measured with node --trace-opt --trace-deopt on N=6
   * P=2 K=1 sync, 2 workers: the round, one function then, was compiled
   * 7-9 times in each thread, 420-460 ms of compiling, each time after a
   * first: garbage collection (now collect(), called before a round),
   * resized filter, resumed claim, steal (claimNext), race in the table
   * (shared-table.ts). Now the loop is compiled twice (on the stack, then
   * whole), 170-280 ms. Hence also: every call at the end of a batch runs
   * after every batch, none only sometimes; and the loop reads RunMsg's
   * numbers from RoundState, one object shape.
   */
  const round = (r: RunMsg, tick?: () => void): DoneMsg => {
    const t0 = performance.now();
    table.attach(r.table, r.cap);
    batch.fitFilter(recentFilterBytesFor(r.storeBytes, undefined, RECENT_FILTER_MAX_FRACTION));
    const seg = new Uint32Array(r.seg.words);
    const segParent = new Int32Array(r.seg.parent);
    const segAction = actionView(r.seg.action, nInst);
    const st: RoundState = {
      part: r.part,
      curN: r.curN,
      levelStart: r.levelStart,
      depth: r.depth,
      growAt: r.growAt,
      maxClaim: r.maxClaim,
      resumeFrom: r.resumeFrom,
      resumeTo: r.resumeTo,
      tick,
      cur: new Uint32Array(r.cur),
      seg,
      segParent,
      segAction,
      segCap: Math.min(seg.length / W, segParent.length, segAction.length),
      segN: r.seg.n,
      premiseCounts: invariants.map((i) => (i.premise ? 0 : -1)),
      fired: new Uint8Array(nInst),
      violated: new Set(r.violated),
      violations: [],
      transitions: 0,
      expanded: 0,
      unflushed: 0,
      leftFrom: 0,
      leftTo: 0,
    };
    const done = (extra: Partial<DoneMsg> = {}): DoneMsg => {
      Atomics.add(ctrl, Ctl.COUNT, st.unflushed);
      const { transitions, expanded, segN, fired, premiseCounts, violations, leftFrom, leftTo } = st;
      return { type: 'done', transitions, expanded, segN, filterBytes: batch.filterBytes(), fired, premiseCounts, violations, leftFrom, leftTo, busyMs: performance.now() - t0, ...extra };
    };
    try {
      expandClaims(st);
    } catch (e) {
      Atomics.store(ctrl, Ctl.STOP, 1);
      if (e instanceof AsymmetryFault) return done({ asymmetry: e.message });
      return done({ error: e instanceof Error ? `${e.name}: ${e.message}` : String(e) });
    }
    return done();
  };

  const words = (buf: Uint32Array, off: number) => Array.from(buf.subarray(off, off + W));

  /** Claim and expand states until the level is done, PAUSE or STOP; the counts go back into `st` (also on a throw). */
  const expandClaims = (st: RoundState): void => {
    const { part, curN, levelStart, depth, growAt, maxClaim, tick, cur, seg, segParent, segAction, segCap, premiseCounts, fired, violated, violations } = st;
    const levelEnd = levelStart + curN;
    let segN = st.segN;
    let transitions = 0;
    let expanded = 0;
    /** New states not yet added to ctrl[COUNT]. */
    let unflushed = 0;
    // The rest of a claim paused in the last round comes first (none when equal).
    let resumeFrom = st.resumeFrom;
    let resumeTo = st.resumeTo;
    let leftFrom = 0;
    let leftTo = 0;
    /** Successors one claim can add to the segment. */
    const claimRoom = maxClaim * Math.max(nInst, 1);
    try {
      outer: for (;;) {
        if (Atomics.load(ctrl, Ctl.STOP) !== 0 || Atomics.load(ctrl, Ctl.PAUSE) !== 0) {
          leftFrom = resumeFrom;
          leftTo = resumeTo;
          break;
        }
        let s0 = resumeFrom;
        let s1 = resumeTo;
        resumeFrom = resumeTo = 0;
        if (s1 <= s0) {
          if (!claimNext(ctrl, part, parts, curN, maxClaim, span)) break;
          s0 = span[0]!;
          s1 = span[1]!;
        }
        // (b0 = b1, not += size: expand() may halve the size.)
        for (let b0 = s0, b1 = s0; b0 < s1; b0 = b1) {
          b1 = Math.min(s1, b0 + batch.size);
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
          // After every batch: publish the count, ask for room before the
          // headroom the coordinator reserved could run out, and stop here
          // if a pause was asked for (the rest of the claim comes first in
          // the next round), so no participant waits for a whole claim at a
          // pause.
          const count = Atomics.add(ctrl, Ctl.COUNT, unflushed) + unflushed;
          unflushed = 0;
          Atomics.or(ctrl, Ctl.PAUSE, levelEnd + count >= growAt || segN + claimRoom > segCap ? 1 : 0);
          // The time limit after every batch, not only at the end of a claim:
          // a claim of wide states can take seconds (a batch is bounded, batch.ts).
          if (deadline !== Infinity && Date.now() > deadline) setLimit(LimitCode.TIME);
          const flags = Atomics.load(ctrl, Ctl.STOP) | Atomics.load(ctrl, Ctl.PAUSE);
          const more = b1 < s1;
          if (flags !== 0 && more) {
            leftFrom = b1;
            leftTo = s1;
            break outer;
          }
        }
        // End of the claim.
        const now = Date.now();
        if (now > deadline) setLimit(LimitCode.TIME);
        // RSS is a /proc read (~35 µs): at most every 50 ms.
        if (memoryLimit > 0 && now - lastRss >= 50) {
          lastRss = now;
          if (process.memoryUsage.rss() > memoryLimit) setLimit(LimitCode.MEMORY);
        }
        tick?.();
      }
    } finally {
      st.segN = segN;
      st.transitions = transitions;
      st.expanded = expanded;
      st.unflushed = unflushed;
      st.leftFrom = leftFrom;
      st.leftTo = leftTo;
    }
  };

  return {
    collect(g) {
      if (g === gen) return;
      gen = g;
      collectGarbage();
    },
    round,
    rehash(m) {
      return rehashShare(format, layout.hash, m, m.part, m.parts);
    },
  };
}
