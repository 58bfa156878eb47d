// Property: on random tables, one random edit through the simulator; the diff of the walk before
// and after it equals a brute-force comparison of the two leaf sets page by page (kind and changed
// fields), and the TLB maintenance the diff says was required equals the simulator's plan.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EditError } from '../../../src/core/edit/codecs';
import { EditSimulator } from '../../../src/core/edit/simulator';
import { spaceFromRegisters } from '../../../src/core/formats';
import { Flag, PERM_NAMES } from '../../../src/core/format';
import { diffSessions } from '../../../src/core/ops/diff';
import { PageTableSession } from '../../../src/core/ops/session';
import { ArchModel, a64, build, reqArb, sv39, x86_64 } from '../../support/randomTables';

const PAGE = 4096;
type Page = { pa: number; size: number; perms: number; flags: number; memType: number };

async function pages(s: PageTableSession): Promise<Map<number, Page>> {
  const out = new Map<number, Page>();
  for (const l of await s.leaves()) {
    for (let off = 0; off < l.size; off += PAGE) out.set(l.linear + off, { pa: l.pa + off, size: l.size, perms: l.perms, flags: l.flags, memType: l.memType });
  }
  return out;
}

// The fields as a person comparing two leaves would list them (independent of diff.ts's code).
function fields(b: Page, a: Page): string[] {
  const out: string[] = [];
  if (b.pa !== a.pa) out.push('pa');
  if (b.size !== a.size) out.push('size');
  for (const [p, n] of PERM_NAMES) if ((b.perms & p) !== (a.perms & p)) out.push(n);
  if (b.memType !== a.memType) out.push('memType');
  const flags: Array<[number, string]> = [[Flag.Global, 'global'], [Flag.Accessed, 'accessed'], [Flag.Dirty, 'dirty'], [Flag.Contiguous, 'contiguous']];
  for (const [f, n] of flags) if ((b.flags & f) !== (a.flags & f)) out.push(n);
  return out;
}

function bruteForce(before: Map<number, Page>, after: Map<number, Page>): Map<number, string> {
  const out = new Map<number, string>();
  for (const [k, b] of before) {
    const a = after.get(k);
    if (!a) out.set(k, 'removed');
    else {
      const f = fields(b, a);
      if (f.length) out.set(k, `changed ${f.join(',')}`);
    }
  }
  for (const k of after.keys()) if (!before.has(k)) out.set(k, 'added');
  return out;
}

const editArb = fc.record({
  kind: fc.constantFrom('unmap', 'protect-w', 'protect+w', 'protect+w', 'protect-u', 'protect-x', 'map', 'map-hole', 'map-2m'),
  pick: fc.nat(),
  shift: fc.integer({ min: -4, max: 4 }),
  pages: fc.integer({ min: 1, max: 40 }),
});

function check(m: ArchModel) {
  const reqs = fc.array(reqArb(m), { minLength: 1, maxLength: 25 }).map((rs) => rs.filter((r) => r.path.length >= m.levels - 1));
  return fc.asyncProperty(reqs, editArb, async (rs, e) => {
    const b = build(m, rs);
    const space = spaceFromRegisters(m.arch, m.regs(b.root));
    const sim = new EditSimulator(space, b.mem);
    const base = new PageTableSession(space, b.mem);
    const beforePages = await pages(base);
    const keys = [...beforePages.keys()];
    const start = Math.max(0, (keys.length ? keys[e.pick % keys.length] : 0) + e.shift * PAGE);
    const va = space.roots[0].toVirt(start);
    let r;
    try {
      if (e.kind === 'map') r = await sim.map(va, 0x4000_0000 + (e.pick % 64) * PAGE, e.pages * PAGE, { rights: { write: true, exec: false, user: true }, maxPageSize: PAGE });
      else if (e.kind === 'map-hole') r = await sim.map(space.roots[0].toVirt(2 ** 38 + (e.pick % 1024) * PAGE), 0x4000_0000, e.pages * PAGE, { rights: { write: e.pick % 2 === 0, exec: true, user: e.pick % 3 === 0 }, maxPageSize: PAGE });
      else if (e.kind === 'map-2m') r = await sim.map(va - (va % 0x200000n), 0x4000_0000, 0x200000, { rights: { write: true, exec: true, user: false } });
      else if (e.kind === 'unmap') r = await sim.unmap(va, e.pages * PAGE);
      else {
        const rights = { 'protect-w': { write: false }, 'protect+w': { write: true }, 'protect-u': { user: false }, 'protect-x': { exec: false } }[e.kind]!;
        r = await sim.protect(va, e.pages * PAGE, rights);
      }
    } catch (err) {
      if (err instanceof EditError) return; // refused edits change nothing
      throw err;
    }
    r.flush.consume();
    const after = sim.session();
    const d = await diffSessions(new PageTableSession(space, b.mem), after);

    // Leaves: the diff, expanded to pages, is exactly the brute-force comparison.
    const expected = bruteForce(beforePages, await pages(after));
    const got = new Map<number, string>();
    for (const c of d.changes) {
      if (c.kind !== 'added' && c.kind !== 'removed' && c.kind !== 'changed') continue;
      assert.ok(c.start < c.end && c.start % PAGE === 0, `${c.kind} ${c.start}-${c.end}`);
      for (let k = c.start; k < c.end; k += PAGE) {
        assert.ok(!got.has(k), `page ${k.toString(16)} in two changes`);
        got.set(k, c.kind === 'changed' ? `changed ${c.fields.join(',')}` : c.kind);
      }
    }
    assert.deepEqual([...got].sort((x, y) => x[0] - y[0]), [...expected].sort((x, y) => x[0] - y[0]), r.edit);

    // TLB: the root's combined plan is the simulator's plan for this edit.
    const plan = d.roots.find((x) => x.name === r.root)!.plan;
    assert.deepEqual(plan.ops, [...r.flush.ops], `${r.edit}: ops`);
    assert.equal(plan.translations, r.flush.translations, `${r.edit}: translations`);
    assert.equal(plan.fullFlush, r.flush.fullFlush);
    assert.deepEqual(plan.notes, [...r.flush.notes]);
    // 'shared-table' is about the simulator's intent (it edited one root of a shared kernel half);
    // between two real stops the other roots' own diffs show whether the kernel copied the entry.
    assert.deepEqual(plan.hazards, r.hazards.filter((h) => h.kind !== 'ineffective' && h.kind !== 'shared-table'));
    // One descriptor changed: every change of the diff carries that same plan.
    const live = r.changes.filter((c) => !c.fresh);
    if (live.length === 1) {
      for (const c of d.changes) {
        if (c.kind === 'added' || c.kind === 'removed' || c.kind === 'changed') assert.deepEqual(c.plan.ops, [...r.flush.ops], `${r.edit}: change ${c.kind}`);
      }
    }
    // No edit moves a root; tables the edit created are reported as allocated.
    assert.ok(!d.changes.some((c) => c.kind === 'root'));
    const allocated = d.changes.flatMap((c) => (c.kind === 'table' && c.what === 'allocated' ? [c.pa as number] : []));
    assert.deepEqual(allocated.sort(), [...r.newTables].sort());
  });
}

describe('properties: diff of two walks equals a brute-force leaf comparison, TLB verdicts equal the simulator', function () {
  this.timeout(180_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}`, async () => {
      await fc.assert(check(m), { numRuns: Number(process.env.PTVIEW_FC_RUNS ?? 100) });
    });
  }
});

// Property: arbitrary differences, not only the simulator's: the NEW tables are built from an
// edited request list (so tables move to other PAs, subtrees appear and vanish) and then get raw
// garbage and cross-links (reserved encodings, shared and looping tables). The diff's leaf
// changes must still equal a brute-force comparison, cut at every leaf boundary of both sides.
type Seg = { start: number; end: number; label: string };

function label(b: Page | undefined, a: Page | undefined): string | undefined {
  if (!b && !a) return undefined;
  if (!a) return 'removed';
  if (!b) return 'added';
  const f = fields(b, a);
  return f.length ? `changed ${f.join(',')}` : undefined;
}

async function leafList(s: PageTableSession): Promise<Array<{ start: number; end: number; p: Page }>> {
  return (await s.leaves()).map((l) => ({ start: l.linear, end: l.linear + l.size, p: { pa: l.pa, size: l.size, perms: l.perms, flags: l.flags, memType: l.memType } }));
}

function at(list: Array<{ start: number; end: number; p: Page }>, x: number): Page | undefined {
  const l = list.find((e) => e.start <= x && x < e.end);
  return l && { ...l.p, pa: l.p.pa + (x - l.start) };
}

const mutationArb = fc.record({
  drop: fc.array(fc.nat(), { maxLength: 4 }),
  flip: fc.array(fc.nat(), { maxLength: 4 }),
  garbage: fc.array(fc.record({ table: fc.nat({ max: 40 }), index: fc.nat({ max: 3 }), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }), { maxLength: 3 }),
  links: fc.array(fc.record({ table: fc.nat({ max: 40 }), index: fc.nat({ max: 3 }), to: fc.nat({ max: 40 }) }), { maxLength: 3 }),
});

function checkArbitrary(m: ArchModel) {
  const reqs = fc.array(reqArb(m), { minLength: 1, maxLength: 20 }).map((rs) => rs.filter((r) => r.path.length >= m.levels - 1));
  return fc.asyncProperty(reqs, mutationArb, async (rs, mu) => {
    const a = build(m, rs);
    const edited = rs.filter((_, i) => !mu.drop.some((d) => d % rs.length === i)).map((r, i) =>
      mu.flip.some((f) => f % rs.length === i) ? { ...r, leaf: { ...r.leaf, write: !r.leaf.write } } : r);
    const b = build(m, edited);
    const tables = (n: number) => 0x100000 + (n % 24) * 4096;
    for (const g of mu.garbage) b.mem.write64(tables(g.table) + 8 * g.index, g.value);
    for (const l of mu.links) b.mem.write64(tables(l.table) + 8 * l.index, m.table(tables(l.to), { write: true, user: true, exec: true }));
    const sa = spaceFromRegisters(m.arch, m.regs(a.root));
    const sb = spaceFromRegisters(m.arch, m.regs(b.root));
    const before = new PageTableSession(sa, a.mem);
    const after = new PageTableSession(sb, b.mem);
    const d = await diffSessions(new PageTableSession(sa, a.mem), new PageTableSession(sb, b.mem));
    const lb = await leafList(before);
    const la = await leafList(after);
    const changes = d.changes.flatMap((c) => (c.kind === 'added' || c.kind === 'removed' || c.kind === 'changed' ? [c] : []));
    const cuts = new Set<number>();
    for (const e of [...lb, ...la, ...changes]) (cuts.add(e.start), cuts.add(e.end));
    const xs = [...cuts].sort((p, q) => p - q);
    const want: Seg[] = [];
    const got: Seg[] = [];
    for (let k = 0; k + 1 < xs.length; k++) {
      const [x, y] = [xs[k], xs[k + 1]];
      const w = label(at(lb, x), at(la, x));
      if (w) want.push({ start: x, end: y, label: w });
      const c = changes.find((ch) => ch.start <= x && x < ch.end);
      if (c) got.push({ start: x, end: y, label: c.kind === 'changed' ? `changed ${c.fields.join(',')}` : c.kind });
    }
    assert.deepEqual(got, want);
    // Merged changes never overlap, and adjacent ones differ in kind or fields or do not continue.
    for (let k = 1; k < changes.length; k++) assert.ok(changes[k - 1].root !== changes[k].root || changes[k - 1].end <= changes[k].start);
  });
}

describe('properties: diff of arbitrary table changes equals a brute-force leaf comparison', function () {
  this.timeout(180_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}`, async () => {
      await fc.assert(checkArbitrary(m), { numRuns: Number(process.env.PTVIEW_FC_RUNS ?? 100) });
    });
  }
});
