/**
 * A hand-written breadth-first explorer for ../shared/bench/shootdown-spec.md
 * (no engine, no model API): the same protocol coded directly on two packed
 * 32-bit words, with the same open-addressing table (murmur3, linear
 * probing, 70 % load) and a parent link per state. It checks no invariant and
 * records no action ids, so it is an upper bound for what this explorer
 * design can do in JavaScript on the machine at hand; `npm run bench` prints
 * tlbcheck's states/s against it, which is less sensitive to how fast the
 * (shared, noisy) machine happens to be than absolute numbers.
 *
 *   node bench/handwritten.mjs N P K sync|async
 *
 * Last line: states=… transitions=… run_s=… peak_rss_mb=…
 */
const [N, P, K] = process.argv.slice(2, 5).map(Number);
const VARIANT = process.argv[5];
if (!(N >= 2 && N <= 6 && P >= 1 && P <= 3 && K >= 1 && K <= 3) || !['sync', 'async'].includes(VARIANT)) {
  console.error('usage: node bench/handwritten.mjs N(2..6) P(1..3) K(1..3) sync|async');
  process.exit(2);
}
const ASYNC = VARIANT === 'async';
// Word a: pte[p] and done[p] (2 bits each), busy (3 bits, 0 = NONE, else
// c+1), fpage (2 bits), pending[c], inirq[c]; bit 31 = occupied.
// Word b: tlb[c][p] (TB bits each, 0 = NONE, else version+1).
const TB = K <= 2 ? 2 : 3;
if (TB * N * P > 32) throw new Error('tlb does not fit one word');
const PTE = 0;
const DONE = 2 * P;
const BUSY = 4 * P;
const FP = BUSY + 3;
const PEND = FP + 2;
const IRQ = PEND + N;
const get = (w, sh, bits) => (w >>> sh) & ((1 << bits) - 1);
const set = (w, sh, bits, v) => ((w & ~(((1 << bits) - 1) << sh)) | (v << sh)) >>> 0;

function hash(a, b) {
  let h = 0x2545f491;
  let k = Math.imul(a, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  k = Math.imul(b, 0xcc9e2d51);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  h ^= 8;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

let cap = 1 << 12;
let shift = 20;
let tab = new Uint32Array(cap * 2);
let count = 0;
let parent = new Int32Array(1 << 16);
let next = new Uint32Array(1 << 16);
let nextN = 0;
let transitions = 0;

function grow() {
  const ncap = cap * 2;
  const nt = new Uint32Array(ncap * 2);
  for (let o = 0; o < tab.length; o += 2) {
    if (tab[o] === 0) continue;
    let i = hash(tab[o], tab[o + 1]) >>> (shift - 1);
    while (nt[i * 2] !== 0) i = (i + 1) & (ncap - 1);
    nt[i * 2] = tab[o];
    nt[i * 2 + 1] = tab[o + 1];
  }
  tab = nt;
  cap = ncap;
  shift--;
}

function visit(a, b, from) {
  transitions++;
  a = (a | 0x80000000) >>> 0;
  let i = hash(a, b) >>> shift;
  for (;;) {
    const x = tab[i * 2];
    if (x === a && tab[i * 2 + 1] === b) return;
    if (x === 0) break;
    i = (i + 1) & (cap - 1);
  }
  tab[i * 2] = a;
  tab[i * 2 + 1] = b;
  if (count === parent.length) {
    const p = new Int32Array(count * 2);
    p.set(parent);
    parent = p;
  }
  parent[count++] = from;
  if (nextN * 2 === next.length) {
    const n = new Uint32Array(next.length * 2);
    n.set(next);
    next = n;
  }
  next[nextN * 2] = a;
  next[nextN * 2 + 1] = b;
  nextN++;
  if (count > cap * 0.7) grow();
}

function expand(a, b, id) {
  const busy = get(a, BUSY, 3);
  const anyPending = get(a, PEND, N) !== 0;
  for (let c = 0; c < N; c++) {
    const pending = get(a, PEND + c, 1);
    const inirq = get(a, IRQ + c, 1);
    for (let p = 0; p < P; p++) {
      const sh = TB * (c * P + p);
      const t = get(b, sh, TB);
      const pte = get(a, PTE + 2 * p, 2);
      if (t !== pte + 1) visit(a, set(b, sh, TB, pte + 1), id); // walk(c,p)
      if (t !== 0) visit(a, set(b, sh, TB, 0), id); // evict(c,p)
      if (busy === 0 && pte < K && !inirq) {
        // start(c,p)
        let na = set(set(set(a, PTE + 2 * p, 2, pte + 1), BUSY, 3, c + 1), FP, 2, p);
        for (let d = 0; d < N; d++) if (d !== c) na = set(na, PEND + d, 1, 1);
        visit(na, set(b, sh, TB, 0), id);
      }
    }
    const rowCleared = (b & ~(((1 << (TB * P)) - 1) << (TB * c * P))) >>> 0;
    if (ASYNC) {
      if (pending && !inirq) visit(set(set(a, IRQ + c, 1, 1), PEND + c, 1, 0), b, id); // ack(c)
      if (inirq) visit(set(a, IRQ + c, 1, 0), rowCleared, id); // flush(c)
    } else if (pending) visit(set(a, PEND + c, 1, 0), rowCleared, id); // ipi(c)
    if (busy === c + 1 && !anyPending) {
      // finish(c)
      const fp = get(a, FP, 2);
      visit(set(set(set(a, DONE + 2 * fp, 2, get(a, PTE + 2 * fp, 2)), BUSY, 3, 0), FP, 2, 0), b, id);
    }
  }
}

const t0 = performance.now();
visit(0, 0, -1);
transitions = 0;
let levelStart = 0;
while (nextN > 0) {
  const cur = next;
  const curN = nextN;
  next = new Uint32Array(Math.max(1 << 16, cur.length));
  nextN = 0;
  for (let j = 0; j < curN; j++) expand(cur[j * 2] & 0x7fffffff, cur[j * 2 + 1], levelStart + j);
  levelStart += curN;
}
const s = (performance.now() - t0) / 1000;
const rss = process.resourceUsage().maxRSS / 1024;
console.log(`states=${count} transitions=${transitions} run_s=${s.toFixed(3)} peak_rss_mb=${rss.toFixed(0)}`);
