// One descent (src/core/descent.ts): it is the only code outside the architecture modules that
// decides what an entry is (kind, reserved bits, what a table entry takes away), so no client can
// read an entry differently from the walk, and the only code that scans a table's entries to go
// down. This reads the sources (as text, and parsed): a new call site of the format's
// classification, or a new entry loop that goes down, outside the descent fails here.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const SRC = path.join(__dirname, '..', '..', '..', '..', 'src');
// The formats define the rules; the architecture modules encode entries for the simulator.
const OWNERS = [/^core\/formats\//, /^core\/arch\//, /^core\/descent\.ts$/];

function sources(dir: string, rel = ''): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) return sources(path.join(dir, e.name), r);
    return e.name.endsWith('.ts') ? [r] : [];
  });
}

const LOOPS = new Set([ts.SyntaxKind.ForStatement, ts.SyntaxKind.ForOfStatement, ts.SyntaxKind.ForInStatement, ts.SyntaxKind.WhileStatement, ts.SyntaxKind.DoStatement]);
const ITERATORS = new Set(['forEach', 'map', 'flatMap', 'reduce', 'filter', 'some', 'every', 'find']);

/** The name a call is made by: `f(…)` → f, `this.g(…)`/`x.g(…)` → g. */
function callee(c: ts.CallExpression): string | undefined {
  const e = c.expression;
  if (ts.isIdentifier(e)) return e.text;
  if (ts.isPropertyAccessExpression(e)) return e.name.text;
  return undefined;
}

/** The name of the function or method a node is in. */
function enclosing(n: ts.Node): string | undefined {
  for (let p: ts.Node | undefined = n.parent; p; p = p.parent) {
    if ((ts.isFunctionDeclaration(p) || ts.isMethodDeclaration(p)) && p.name && ts.isIdentifier(p.name)) return p.name.text;
    if ((ts.isArrowFunction(p) || ts.isFunctionExpression(p)) && ts.isVariableDeclaration(p.parent) && ts.isIdentifier(p.parent.name)) return p.parent.name.text;
  }
  return undefined;
}

/**
 * Loops over entries that go down: a loop (or an array callback) whose body follows a table
 * pointer (the format's `tablePa`), or reads an entry (decodeEntry / entryKind) and calls the
 * function it is in, directly or through other functions of the file (recursion). Also any use of the descent's range clipping (entrySpan).
 */
function descendingLoops(file: string, text: string): string[] {
  const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const out: string[] = [];
  const where = (n: ts.Node) => `${file}:${sf.getLineAndCharacterOfPosition(n.getStart()).line + 1}`;
  // Who calls whom inside the file (functions, methods, arrow constants), to see recursion
  // through helpers (a loop in editTable calling edit, which calls editTable).
  const callsIn = (body: ts.Node): string[] => {
    const calls: string[] = [];
    const walk = (n: ts.Node): void => {
      if (ts.isCallExpression(n)) {
        const c = callee(n);
        if (c) calls.push(c);
      }
      ts.forEachChild(n, walk);
    };
    walk(body);
    return calls;
  };
  const graph = new Map<string, string[]>();
  const collect = (n: ts.Node): void => {
    const named = (ts.isFunctionDeclaration(n) || ts.isMethodDeclaration(n)) && n.name && ts.isIdentifier(n.name) && n.body
      ? [n.name.text, n.body] as const
      : ts.isVariableDeclaration(n) && ts.isIdentifier(n.name) && n.initializer && (ts.isArrowFunction(n.initializer) || ts.isFunctionExpression(n.initializer))
        ? [n.name.text, n.initializer.body] as const
        : undefined;
    if (named) graph.set(named[0], [...(graph.get(named[0]) ?? []), ...callsIn(named[1])]);
    ts.forEachChild(n, collect);
  };
  collect(sf);
  const reaches = (from: string[], target: string): boolean => {
    const seen = new Set<string>();
    const todo = [...from];
    while (todo.length) {
      const c = todo.pop()!;
      if (c === target) return true;
      if (seen.has(c)) continue;
      seen.add(c);
      todo.push(...(graph.get(c) ?? []));
    }
    return false;
  };
  const scan = (body: ts.Node, at: ts.Node) => {
    const self = enclosing(at);
    const calls = callsIn(body);
    const follows = calls.includes('tablePa');
    const recurses = (calls.includes('decodeEntry') || calls.includes('entryKind')) && self !== undefined && reaches(calls, self);
    if (follows || recurses) out.push(`${where(at)}: a loop that ${follows ? 'follows table pointers' : `reads entries and calls ${self} again`}`);
  };
  const visit = (n: ts.Node): void => {
    if (LOOPS.has(n.kind)) scan((n as ts.IterationStatement).statement, n);
    else if (ts.isCallExpression(n)) {
      if (callee(n) === 'entrySpan') out.push(`${where(n)}: clips a range to entries itself (entrySpan)`);
      if (ts.isPropertyAccessExpression(n.expression) && ITERATORS.has(n.expression.name.text)) {
        for (const a of n.arguments) if (ts.isArrowFunction(a) || ts.isFunctionExpression(a)) scan(a.body, n);
      }
    }
    ts.forEachChild(n, visit);
  };
  visit(sf);
  return out;
}

describe('one descent', () => {
  it('no source outside formats/, arch/ and descent.ts scans a table\'s entries to go down (the detector is checked on samples)', () => {
    // The detector itself: it finds each shape of an own descent, and not a one-table listing.
    const samples: [string, boolean][] = [
      ['function d(pa, level) { for (let i = 0; i < n; i++) { const [lo, hi] = entryAt(w, 8, i); if (entryKind(f, lo, hi, level) === 1) d(f.tablePa(lo, hi, level), level + 1); } }', true],
      ['class C { async e(pa) { for (let i = a; i < b; i++) { const d = decodeEntry(f, lo, hi, l, i, 0, 0); if (d.kind === 1) await this.e(d.target); } } }', true],
      ['const go = (pa) => idx.forEach((i) => { const d = decodeEntry(f, w[i], 0, 0, i, 0, 0); if (d.target) go(d.target); });', true],
      ['class E { async edit(pa) { await this.one(pa); } async one(pa) { for (const i of idx) { if (entryKind(f, w[i], 0, 0) === 1) await this.below(w[i]); } } async below(x) { await this.edit(x); } }', true],
      ['function s(w) { let i = 0; while (i < 512) { next.push(f.tablePa(w[i], 0, 0)); i++; } }', true],
      ['function c() { const [a, b] = entrySpan(f, 0, 0, lo, hi); }', true],
      // A client of the descent goes down from its callbacks: that is the design, not an own loop.
      ['class D { compare(b, a, l) { pairedEntries(f, l, b, a, (i, bl, bh, bk, bt, al, ah, ak, at) => { if (bk === 1) this.compare(bt, at, l + 1); }); } }', false],
      ['function list(w) { const out = []; for (let i = 0; i < n; i++) out.push(decodeEntry(f, w[i], 0, 0, i, 0, 0)); return out; }', false],
    ];
    for (const [code, found] of samples) assert.equal(descendingLoops('sample.ts', code).length > 0, found, code);

    const files = sources(SRC).filter((f) => !OWNERS.some((o) => o.test(f)));
    const found = new Map<string, string[]>();
    for (const f of files) {
      const hits = descendingLoops(f, fs.readFileSync(path.join(SRC, f), 'utf8'));
      if (hits.length) found.set(f, hits);
    }
    assert.deepEqual([...found.values()].flat(), []);
  });

  it('no source outside formats/, arch/ and descent.ts calls classify, reservedBits or tableRestricts', () => {
    const files = sources(SRC);
    assert.ok(files.includes('core/descent.ts') && files.length > 50, `sources found under ${SRC}: ${files.length}`);
    const offenders = files
      .filter((f) => !OWNERS.some((o) => o.test(f)))
      .flatMap((f) => fs.readFileSync(path.join(SRC, f), 'utf8').split('\n').map((line, i) => [f, i + 1, line] as const))
      .filter(([, , line]) => /\.(classify|reservedBits|tableRestricts)\(/.test(line))
      .map(([f, n, line]) => `${f}:${n}: ${line.trim()}`);
    assert.deepEqual(offenders, []);
  });
});
