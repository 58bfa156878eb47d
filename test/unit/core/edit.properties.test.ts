// Property: random edit sequences on random well-formed tables keep the shadow's walk equal to a
// page-by-page model (what is mapped, where, rights removed by protect), never touch the source
// memory, and ask for TLB maintenance exactly when a live translation changed.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EditError } from '../../../src/core/edit/codecs';
import { EditSimulator } from '../../../src/core/edit/simulator';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import { Perm } from '../../../src/core/format';
import { ArchModel, a64, build, reqArb, sv39, x86_64 } from '../../support/randomTables';

const PAGE = 4096;
type Page = { pa: number; write: boolean; user: boolean };

async function pages(s: PageTableSession): Promise<Map<number, Page>> {
  const out = new Map<number, Page>();
  for (const l of await s.leaves()) {
    // Rights v2: `user` is user data access; `write` is the page owner's (the user's on user pages).
    const user = (l.perms & (Perm.UserRead | Perm.UserWrite)) !== 0;
    const write = (l.perms & (user ? Perm.UserWrite : Perm.Write)) !== 0;
    for (let off = 0; off < l.size; off += PAGE) out.set(l.linear + off, { pa: l.pa + off, write, user });
  }
  return out;
}

const editArb = fc.record({
  kind: fc.constantFrom('unmap', 'protect-w', 'protect-u', 'map'),
  pick: fc.nat(), // which mapped page to start near
  shift: fc.integer({ min: -8, max: 8 }),
  pages: fc.integer({ min: 1, max: 24 }),
});

function check(m: ArchModel) {
  // 4 KiB and 2 MiB leaves only, so the page-by-page model stays small.
  const reqs = fc.array(reqArb(m), { minLength: 1, maxLength: 25 }).map((rs) => rs.filter((r) => r.path.length >= m.levels - 1));
  return fc.asyncProperty(reqs, fc.array(editArb, { minLength: 1, maxLength: 6 }), async (rs, edits) => {
    const b = build(m, rs);
    const space = spaceFromRegisters(m.arch, m.regs(b.root));
    const sim = new EditSimulator(space, b.mem);
    const model = await pages(new PageTableSession(space, b.mem));
    const sourceReads = JSON.stringify([...model]);
    for (const e of edits) {
      const keys = [...model.keys()];
      const start = Math.max(0, (keys.length ? keys[e.pick % keys.length] : 0) + e.shift * PAGE);
      const va = space.roots[0].toVirt(start);
      const len = e.pages * PAGE;
      const inRange = (k: number) => k >= start && k < start + len;
      const hit = keys.filter(inRange);
      if (e.kind === 'map') {
        const pa = 0x4000_0000 + (e.pick % 64) * PAGE;
        try {
          const r = await sim.map(va, pa, len, { rights: { write: true, exec: false, user: true }, maxPageSize: PAGE });
          assert.equal(hit.length, 0, 'map succeeded over mapped pages');
          if (m.arch === 'x86_64') assert.equal(r.flush.translations, 0);
          r.flush.consume();
          // Upper levels may still remove rights: then the edit says so ('ineffective').
          const s = sim.session();
          for (let k = 0; k < e.pages; k++) {
            const t = await s.translate(va + BigInt(k * PAGE));
            assert.equal(t.pa, pa + k * PAGE);
            const ownerWrite = t.rights!.user ? t.rights!.userWrite : t.rights!.write;
            if (k === 0 && (!ownerWrite || !t.rights!.user)) assert.ok(r.hazards.some((h) => h.kind === 'ineffective'), `${r.edit}: lost rights without a hazard`);
            model.set(start + k * PAGE, { pa: pa + k * PAGE, write: ownerWrite, user: t.rights!.user });
          }
        } catch (err) {
          if (!(err instanceof EditError)) throw err;
          assert.match(err.message, /already mapped/);
          // Refused: some page of the range, or a leaf above it, is mapped (2 MiB leaves cover 512 pages).
          assert.ok(hit.length > 0, `map refused without a mapped page: ${err.message}`);
        }
        continue;
      }
      let r;
      try {
        r = e.kind === 'unmap' ? await sim.unmap(va, len) : await sim.protect(va, len, e.kind === 'protect-w' ? { write: false } : { user: false });
      } catch (err) {
        if (!(err instanceof EditError) || !/break-before-make/.test(err.message)) throw err;
        // Refused (Arm ARM D8.16.1): only where a valid block straddles the range, so splitting it
        // in place would change its size; the model stays as it was.
        assert.equal(m.arch, 'aarch64', err.message);
        const s = sim.session();
        let straddles = false;
        for (const k of hit) {
          const t = await s.translate(space.roots[0].toVirt(k));
          const base = Number(BigInt(t.pageVa!));
          if (t.size! > PAGE && (base < start || base + t.size! > start + len)) straddles = true;
        }
        assert.ok(straddles, `refused without a straddling block: ${err.message}`);
        continue;
      }
      r.flush.consume();
      let changed = false;
      for (const k of hit) {
        const p = model.get(k)!;
        if (e.kind === 'unmap') (model.delete(k), (changed = true));
        else if (e.kind === 'protect-w' && p.write) (model.set(k, { ...p, write: false }), (changed = true));
        else if (e.kind === 'protect-u' && p.user) (model.set(k, { ...p, user: false }), (changed = true));
      }
      // A leaf's own bits can change without the effective right changing (an upper level
      // already removed it), so only "changed ⇒ maintenance" holds in general.
      if (changed) assert.ok(r.flush.translations > 0 || r.flush.ops.length > 0, `${r.edit}: no TLB maintenance`);
    }
    const got = await pages(sim.session());
    assert.deepEqual([...got].sort((x, y) => x[0] - y[0]), [...model].sort((x, y) => x[0] - y[0]));
    assert.equal(JSON.stringify([...(await pages(new PageTableSession(space, b.mem)))]), sourceReads, 'source memory unchanged');
  });
}

describe('properties: simulated edits agree with a page-by-page model', function () {
  this.timeout(120_000);
  for (const m of [x86_64, sv39, a64]) {
    it(`${m.arch}`, async () => {
      await fc.assert(check(m), { numRuns: Number(process.env.PTVIEW_FC_RUNS ?? 40) });
    });
  }
});
