/**
 * Which state leaves an action instance can write, read conservatively off
 * the effect's source (Function.prototype.toString; esbuild output in
 * practice, but any JS is handled soundly or given up on).
 *
 * compile.ts diffs only these leaves after each instance's effect. A leaf
 * that is written but not listed would make a successor wrong, so every rule
 * errs towards "written": reporting too many leaves only costs speed, and
 * `undefined` (give up) falls back to the coarse per-field diff. The
 * generated code also checks at run time that no other leaf changed (see
 * compile.ts), so a mistake here is caught, not silently wrong.
 *
 * The analysis is textual, on a copy of the body with string contents
 * blanked. It gives up on anything it cannot tokenize with certainty
 * (template literals, comments, regex literals, escapes in identifiers).
 */

/** One index of a write pattern: a literal, the k-th action argument, or any index. */
export type IndexPattern = { readonly lit: number } | { readonly arg: number } | 'any';

/** Writes to every leaf of `field` whose leading indices match `index` (shorter = a whole sub-array). */
export interface WritePattern {
  readonly field: string;
  readonly index: readonly IndexPattern[];
}

const IDENT = /^[A-Za-z_$][\w$]*$/;
/** Words after which `(` / `[` do not call or index a value. */
const KEYWORDS = new Set(
  'break case catch class const continue debugger default delete do else export extends finally for function if import in instanceof let new of return super switch throw try typeof var void while with yield await async'.split(
    ' ',
  ),
);
const CONTROL = new Set(['if', 'while', 'for', 'switch']);
/** Operators, longest first: assignment forms must win over their prefixes (`>>>=` before `>>>`). */
const OPERATOR =
  /^(?:>>>=|\.\.\.|\*\*=|<<=|>>=|&&=|\|\|=|\?\?=|===|!==|>>>|\+=|-=|\*=|\/=|%=|&=|\|=|\^=|==|!=|<=|>=|=>|\*\*|<<|>>|&&|\|\||\?\?|\?\.|\+\+|--|[-+*/%&|^<>=!?:;,.()[\]{}~])/;
const ASSIGN = new Set(['=', '+=', '-=', '*=', '/=', '%=', '**=', '<<=', '>>=', '>>>=', '&=', '|=', '^=', '&&=', '||=', '??=']);
/** Tokens after which a leaf access is only read. */
const READ_FOLLOWERS = new Set(['===', '!==', '==', '!=', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '**', '&', '|', '^', '<<', '>>', '>>>', '&&', '||', '??', '?', ':', ';']);
/** Members of a sub-array that read it without mutating it or handing it to a callback (and return no sub-array). */
const READ_ONLY_CALLS = new Set(['includes', 'indexOf', 'lastIndexOf']);

const isIdentChar = (ch: string | undefined): boolean => ch !== undefined && /[\w$]/.test(ch);

/**
 * The body with string literal contents replaced by spaces (same length, so
 * positions match the original), or undefined if it contains something the
 * scanner cannot tokenize safely.
 */
function mask(body: string): string | undefined {
  let out = '';
  let prevSig = ''; // last significant character of code (for the regex/division choice)
  let i = 0;
  while (i < body.length) {
    const ch = body[i]!;
    if (ch === '"' || ch === "'") {
      let j = i + 1;
      while (j < body.length && body[j] !== ch) {
        if (body[j] === '\\') j++;
        if (body[j] === '\n') return undefined;
        j++;
      }
      if (j >= body.length) return undefined;
      out += ch + ' '.repeat(j - i - 1) + ch;
      i = j + 1;
      prevSig = ch;
      continue;
    }
    // Template literals can hold code in ${}; comments could hide tokens.
    if (ch === '`' || ch === '\\') return undefined;
    if (ch === '/') {
      if (body[i + 1] === '/' || body[i + 1] === '*') return undefined;
      // Division only right after an operand (identifier, number, `]`);
      // anything else might start a regex literal, whose contents we cannot scan.
      if (!(isIdentChar(prevSig) || prevSig === ']')) return undefined;
      const word = /[\w$]+$/.exec(out.trimEnd())?.[0];
      if (word && KEYWORDS.has(word)) return undefined;
    }
    out += ch;
    if (!/\s/.test(ch)) prevSig = ch;
    i++;
  }
  return out;
}

/** Parameter names and body of a function's source, or undefined if its parameter list is not plain identifiers. */
function splitFunction(src: string): { params: string[]; body: number } | undefined {
  const arrow1 = /^\s*(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  if (arrow1) return { params: [arrow1[1]!], body: arrow1[0].length };
  const m = /^\s*(?:async\s*)?(?:function\b\s*\*?\s*(?:[A-Za-z_$][\w$]*)?\s*|[A-Za-z_$][\w$]*\s*)?\(([^()]*)\)\s*(?:=>)?/.exec(src);
  if (!m) return undefined;
  const params = m[1]!.trim() === '' ? [] : m[1]!.split(',').map((p) => p.trim());
  if (!params.every((p) => IDENT.test(p) && !KEYWORDS.has(p))) return undefined;
  if (new Set(params).size !== params.length) return undefined;
  return { params, body: m[0].length };
}

/** A scanner over the masked body. */
class Scan {
  constructor(readonly m: string) {}

  skipWs(i: number): number {
    while (i < this.m.length && /\s/.test(this.m[i]!)) i++;
    return i;
  }

  /** The token starting at or after i: an operator, a word, a quote, or '' at the end. */
  next(i: number): { tok: string; at: number; end: number } {
    const at = this.skipWs(i);
    if (at >= this.m.length) return { tok: '', at, end: at };
    const rest = this.m.slice(at);
    const w = /^[\w$]+/.exec(rest) ?? OPERATOR.exec(rest);
    const tok = w ? w[0] : this.m[at]!;
    return { tok, at, end: at + tok.length };
  }

  /** The token ending just before i (only the forms the rules need: words, `++`, `--`, `)`, `]`, single characters). */
  prev(i: number): { tok: string; at: number } {
    let j = i - 1;
    while (j >= 0 && /\s/.test(this.m[j]!)) j--;
    if (j < 0) return { tok: '', at: 0 };
    if (isIdentChar(this.m[j])) {
      let k = j;
      while (k > 0 && isIdentChar(this.m[k - 1])) k--;
      return { tok: this.m.slice(k, j + 1), at: k };
    }
    const two = j >= 1 ? this.m.slice(j - 1, j + 1) : '';
    if (two === '++' || two === '--' || two === '?.') return { tok: two, at: j - 1 };
    return { tok: this.m[j]!, at: j };
  }

  /** Index of the bracket closing the one at `open`, or -1. */
  close(open: number): number {
    let depth = 0;
    for (let i = open; i < this.m.length; i++) {
      const ch = this.m[i]!;
      if (ch === '(' || ch === '[' || ch === '{') depth++;
      else if (ch === ')' || ch === ']' || ch === '}') {
        depth--;
        if (depth === 0) return i;
        if (depth < 0) return -1;
      }
    }
    return -1;
  }

  /** Index of the innermost bracket that is open at position i, or -1. */
  enclosing(i: number): number {
    let depth = 0;
    for (let j = i - 1; j >= 0; j--) {
      const ch = this.m[j]!;
      if (ch === ')' || ch === ']' || ch === '}') depth++;
      else if (ch === '(' || ch === '[' || ch === '{') {
        if (depth === 0) return j;
        depth--;
      }
    }
    return -1;
  }

  /**
   * Is the `{` at `open` a statement block rather than an object literal or
   * pattern? Only where the grammar leaves no choice: the function body, after
   * `=>`, `)` (if/for/while/catch/function heads), else/do/try/finally, or at
   * the start of a statement (after `;`, `{`, `}`).
   */
  opensBlock(open: number): boolean {
    const p = this.prev(open);
    if (p.tok === '>') return this.m[p.at - 1] === '=' && !/[=<>!]/.test(this.m[p.at - 2] ?? ''); // `=>`
    return ['', ')', ';', '{', '}', 'else', 'do', 'try', 'finally'].includes(p.tok);
  }

  /**
   * Does the bracket at `open` follow a value, so that it indexes (`[`) or
   * calls (`(`) it? `)` counts as a value unless it closes an
   * if/while/for/switch head (then a new statement starts here).
   */
  followsValue(open: number): boolean {
    const p = this.prev(open);
    if (p.tok === '') return false;
    if (isIdentChar(p.tok[0])) return !KEYWORDS.has(p.tok);
    if (p.tok === ']' || p.tok === '?.') return true;
    if (p.tok === ')') {
      const o = this.enclosing(p.at); // the bracket this `)` closes
      return o >= 0 && !CONTROL.has(this.prev(o).tok) && this.prev(o).tok !== 'catch';
    }
    return false;
  }
}

/**
 * Is the expression m[start, end) — a complete leaf access — possibly
 * assigned, updated or deleted (or bound as a destructuring target)?
 */
function leafWritten(sc: Scan, start: number, end: number): boolean {
  const before = sc.prev(start).tok;
  if (before === '++' || before === '--' || before === 'delete') return true;
  const { tok } = sc.next(end);
  if (tok === '') return false; // end of an arrow's expression body: the value is discarded
  if (ASSIGN.has(tok) || tok === '++' || tok === '--') return true;
  if (READ_FOLLOWERS.has(tok)) return false;
  if (tok === ',' || tok === ')' || tok === ']') {
    const o = sc.enclosing(start);
    if (o < 0) return true;
    const br = sc.m[o]!;
    if (br === '(') {
      if (CONTROL.has(sc.prev(o).tok)) return false; // `if (s.x)`, `for (;; s.x)`; `for (s.x of …)` has ` of` next
      if (sc.followsValue(o)) return false; // a call argument: passed by value
      // A grouping paren `(s.x)` is itself a target in `(s.x) = 1` and `[(s.x)] = a`.
      if (tok === ')') {
        const c = sc.close(o);
        return c < 0 || leafWritten(sc, o, c + 1);
      }
      return true;
    }
    // `a[s.x]` is an index, but `[s.x] = a` and `[s.x, …] = a` are destructuring targets.
    if (br === '[' && tok === ']' && sc.followsValue(o)) return false;
    return true;
  }
  // `}` ends a statement block (read) or an object literal/pattern (`({ a: s.x } = o)`: written).
  if (tok === '}') {
    const o = sc.enclosing(start);
    return !(o >= 0 && sc.opensBlock(o));
  }
  // `,` `of` `in` `.`, unknown: maybe a destructuring target or worse.
  return true;
}

/**
 * Is the sub-array m[start, end) only measured or searched (`.length`,
 * `.includes(`…)? `.at(` only on an array of leaves: one level up it returns
 * a sub-array, which escapes (`s.tlb.at(c)[0] = 1`).
 */
function subArrayReadOnly(sc: Scan, start: number, end: number, ofLeaves: boolean): boolean {
  const before = sc.prev(start).tok;
  if (before === '++' || before === '--' || before === 'delete') return false;
  const dot = sc.next(end);
  if (dot.tok !== '.' && dot.tok !== '?.') return false;
  const name = sc.next(dot.end);
  const after = sc.next(name.end);
  if (name.tok === 'length') return !(ASSIGN.has(after.tok) || after.tok === '++' || after.tok === '--');
  return (READ_ONLY_CALLS.has(name.tok) || (ofLeaves && name.tok === 'at')) && after.tok === '(';
}

/**
 * Is an action parameter possibly rebound in the body, so that `[c]` need not
 * be the instance's argument? Looks for every way JS can bind or assign a
 * name: assignment and update, declarations, function/arrow/method/catch
 * parameters, destructuring targets and for-of/in heads.
 */
function rebound(sc: Scan, name: string): boolean {
  const m = sc.m;
  const word = `(?<![\\w$])${name.replace(/\$/g, '\\$')}(?![\\w$])`;
  const inside = (a: number, b: number): boolean => new RegExp(word).test(m.slice(a, b));
  // Inside a pattern, a name in an index or call (`[x[c]] = …`) is evaluated, not bound.
  const boundInside = (a: number, b: number): boolean => {
    const g = new RegExp(word, 'g');
    g.lastIndex = a + 1;
    for (let u = g.exec(m); u && u.index < b; u = g.exec(m)) {
      const o = sc.enclosing(u.index);
      if (!((m[o] === '[' || m[o] === '(') && sc.followsValue(o))) return true;
    }
    return false;
  };
  const re = new RegExp(word, 'g');
  for (let u = re.exec(m); u; u = re.exec(m)) {
    const at = u.index;
    const p = sc.prev(at);
    if ((p.tok === '.' && m[p.at - 1] !== '.') || p.tok === '?.') continue; // a member name `x.c`, not the variable
    let n = sc.next(at + name.length);
    if (n.tok === '!') n = sc.next(n.end); // TS `c! = …`
    // Assigned or updated, a single-parameter arrow, a function/class name, a declared name.
    if (ASSIGN.has(n.tok) || n.tok === '++' || n.tok === '--' || n.tok === '=>') return true;
    if (['++', '--', 'function', 'class', 'var', 'let', 'const'].includes(p.tok)) return true;
    // A later name of a declaration list (`let a = 1, c`): a var/let/const at
    // the same bracket depth before it, with no `;` in between.
    if (p.tok === ',') {
      let decl = false;
      for (let j = sc.enclosing(at) + 1, depth = 0; j < at; j++) {
        const ch = m[j]!;
        if (ch === '(' || ch === '[' || ch === '{') depth++;
        else if (ch === ')' || ch === ']' || ch === '}') depth--;
        else if (depth === 0 && ch === ';') decl = false;
        else if (depth === 0 && isIdentChar(ch) && !isIdentChar(m[j - 1]) && /^(var|let|const)(?![\w$])/.test(m.slice(j))) decl = true;
      }
      if (decl) return true;
    }
  }
  // Bracket groups mentioning the name.
  for (let i = 0; i < m.length; i++) {
    const ch = m[i]!;
    if (ch !== '(' && ch !== '[' && ch !== '{') continue;
    const c = sc.close(i);
    if (c < 0) return true;
    if (!inside(i, c)) continue;
    const after = sc.next(c + 1).tok;
    // Destructuring or parenthesized targets: `[a, c] = …`, `({ c } = …)`, `(c) = …`; not `x[c] = …`.
    if ((ASSIGN.has(after) || after === '++' || after === '--') && !(ch === '[' && sc.followsValue(i)) && boundInside(i, c)) return true;
    if (ch === '(') {
      const kw = sc.prev(i).tok;
      // Parameter lists: arrows, functions, methods, catch clauses.
      if ((after === '=>' || after === '{') && !CONTROL.has(kw)) return true;
      // for (c of …) / for (const [a, c] in …): the head before of/in binds.
      if (kw === 'for') {
        const ofIn = /(?<![\w$])(of|in)(?![\w$])/.exec(m.slice(i + 1, c));
        if (ofIn && boundInside(i, i + 1 + ofIn.index)) return true;
      }
    }
  }
  return false;
}

/**
 * The leaves an effect may write, as patterns over its arguments, or
 * undefined when the source defeats the analysis. `depth` gives each state
 * field's array nesting depth (0 = a scalar).
 */
export function writePatterns(effect: (...a: never[]) => unknown, depth: ReadonlyMap<string, number>): WritePattern[] | undefined {
  let src: string;
  try {
    src = Function.prototype.toString.call(effect);
  } catch {
    return undefined;
  }
  return writePatternsOfSource(src, depth);
}

/** writePatterns on a function's source text. */
export function writePatternsOfSource(src: string, depth: ReadonlyMap<string, number>): WritePattern[] | undefined {
  const fn = splitFunction(src);
  if (!fn || fn.params.length === 0) return undefined;
  const body = src.slice(fn.body);
  const m = mask(body);
  if (m === undefined) return undefined;
  // Ways to reach the view other than by name.
  if (/(?<![\w$])(arguments|eval|this|Function|with|super)(?![\w$])/.test(m)) return undefined;
  const sc = new Scan(m);
  const [s, ...argNames] = fn.params as [string, ...string[]];
  const stable = argNames.map((a) => !rebound(sc, a));

  const indexPattern = (text: string): IndexPattern => {
    const t = text.trim().replace(/(\s*!)+$/, '');
    if (/^\d+$/.test(t)) return { lit: Number(t) };
    const k = argNames.indexOf(t);
    return k >= 0 && stable[k] ? { arg: k } : 'any';
  };

  const out = new Map<string, WritePattern>();
  const use = new RegExp(`(?<![\\w$])${s.replace(/\$/g, '\\$')}(?![\\w$])`, 'g');
  for (let u = use.exec(m); u; u = use.exec(m)) {
    const start = u.index;
    const p = sc.prev(start);
    if ((p.tok === '.' && m[p.at - 1] !== '.') || p.tok === '?.') continue; // `x.s` is a member name; `...s` is a use
    // The field: s.F, s?.F or s["F"] (TS non-null `!` tolerated).
    let i = start + s.length;
    const bang = (j: number): number => {
      const t = sc.next(j);
      return t.tok === '!' ? t.end : j;
    };
    i = bang(i);
    let t = sc.next(i);
    let field: string;
    if (t.tok === '.' || t.tok === '?.') {
      const f = sc.next(t.end);
      if (!IDENT.test(f.tok)) return undefined;
      field = f.tok;
      i = f.end;
    } else if (t.tok === '[') {
      const c = sc.close(t.at);
      if (c < 0) return undefined;
      const lit = /^\s*(["'])([A-Za-z_$][\w$]*)\1\s*$/.exec(body.slice(t.at + 1, c));
      if (!lit) return undefined;
      field = lit[2]!;
      i = c + 1;
    } else return undefined; // the view itself escapes
    const d = depth.get(field);
    if (d === undefined) return undefined;
    // Indices: [e] or ?.[e], balanced.
    const index: IndexPattern[] = [];
    for (;;) {
      const j = bang(i);
      t = sc.next(j);
      let open = -1;
      if (t.tok === '[') open = t.at;
      else if (t.tok === '?.' && sc.next(t.end).tok === '[') open = sc.next(t.end).at;
      if (open < 0) break;
      const c = sc.close(open);
      if (c < 0) return undefined;
      index.push(indexPattern(body.slice(open + 1, c)));
      i = c + 1;
    }
    i = bang(i);
    if (index.length >= d) {
      // Extra indices index into a primitive: still count the access as the leaf's.
      if (leafWritten(sc, start, i)) add(out, { field, index: index.slice(0, d) });
    } else if (!subArrayReadOnly(sc, start, i, index.length === d - 1)) {
      add(out, { field, index }); // the sub-array escapes: any leaf under it
    }
  }
  return [...out.values()];
}

function add(out: Map<string, WritePattern>, p: WritePattern): void {
  out.set(`${p.field}${p.index.map((x) => (x === 'any' ? '[*]' : 'lit' in x ? `[${x.lit}]` : `[#${x.arg}]`)).join('')}`, p);
}

/** Leaf indices (into `leaves`) an instance with arguments `args` may write according to `patterns`. */
export function leavesWritten(
  patterns: readonly WritePattern[],
  args: readonly number[],
  leaves: readonly { readonly field: string; readonly indices: readonly number[] }[],
): number[] {
  const hits: number[] = [];
  leaves.forEach((l, li) => {
    const hit = patterns.some(
      (p) =>
        p.field === l.field &&
        p.index.every((x, k) => {
          if (x === 'any') return true;
          // An argument the effect declares but the action does not supply: unknown.
          const v = 'lit' in x ? x.lit : args[x.arg];
          return v === undefined || v === l.indices[k];
        }),
    );
    if (hit) hits.push(li);
  });
  return hits;
}

/** Each field's array nesting depth, from a layout's leaves. */
export function fieldDepths(leaves: readonly { readonly field: string; readonly indices: readonly number[] }[]): Map<string, number> {
  const d = new Map<string, number>();
  for (const l of leaves) d.set(l.field, l.indices.length);
  return d;
}
