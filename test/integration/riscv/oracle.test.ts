// The ptview CLI and core on real QEMU dumps of our RISC-V guests (Sv39/Sv48/Sv57), compared with
// QEMU's own walkers: `info mem` (every leaf with its rwxugad bits) and `gva2gpa` (every leaf at
// several offsets, random probes mapped and unmapped). satp and mstatus are not in a RISC-V core:
// they come from QEMU's `info registers`, as a user would give them with --reg.
//
// The S-mode rights have a QEMU oracle too: before READY the guest loads from and AMO-stores to
// a list of VAs with SUM/MXR variations and records each trap cause in RAM (`probes`/`results`,
// found with binutils' nm), which this test reads from the dump.
//
// QEMU 7.2 facts the comparisons rely on (target/riscv/monitor.c, cpu_helper.c):
// - `info mem` prints every leaf, merging those that continue each other in VA and PA with equal
//   bits, and does not check superpage alignment (a misaligned superpage is listed);
// - `gva2gpa` is a debug *load* in the hart's current mode (S here): a page without R (and MXR=0)
//   answers "Unmapped", SUM is ignored, a misaligned superpage or non-canonical VA is "Unmapped".
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PhysAddr, hex } from '../../../src/core/addr';
import { spaceFromRegisters } from '../../../src/core/formats';
import { QemuCore, openQemuCore } from '../../../src/core/sources/elfCore';
import { TranslateError, Translation, translate } from '../../../src/core/ops/translate';
import { AddressSpace, Root } from '../../../src/core/space';
import { TableStore, walk } from '../../../src/core/walker';
import { Gva2gpa, gva2gpaMany, lcg, leafProbeOffsets, probesAround, RiscvMemRange, parseInfoMemRiscv, parseInfoRegisters } from '../../harness/oracles';
import { GUESTS, GuestRun, REPO, bootGuest } from '../../harness/qemu';

interface Fact {
  va: string;
  mapped?: false;
  misaligned?: true;
  noncanonical?: true;
  pa?: string;
  size?: string;
  attrs?: string;
  smode?: string;
  umode?: string;
  note?: string;
}
interface Expect {
  mode: string;
  registers: { name: string; mask: string; value: string }[];
  tables: number;
  leaves: number;
  misaligned: number;
  facts: Fact[];
}
/** One object of `ptview dump --leaves --json` (the fields this test reads). */
interface JsonLeaf {
  va: string;
  pa: string;
  size: number;
  entry: string;
  read: boolean;
  write: boolean;
  exec: boolean;
  user: boolean;
  userExec: boolean;
  global: boolean;
  accessed: boolean;
  dirty: boolean;
}

const run$ = promisify(execFile);
const CLI = path.join(REPO, 'out', 'cli.js');
const M64 = (1n << 64n) - 1n;
/** QEMU's rwxugad letters of a raw PTE (bits 1..7), computed here from the raw entry. */
const letters = (pte: bigint) => [...'rwxugad'].map((c, i) => ((pte >> BigInt(i + 1)) & 1n ? c : '-')).join('');

for (const name of ['riscv-sv39', 'riscv-sv48', 'riscv-sv57']) {
  describe(`RISC-V guest ${name} vs QEMU`, function () {
    this.timeout(120000);
    const expect = JSON.parse(fs.readFileSync(path.join(GUESTS, name, 'expect.json'), 'utf8')) as Expect;
    let run: GuestRun;
    let core: QemuCore;
    let qregs: Map<string, bigint>;
    let space: AddressSpace;
    let root: Root;
    let store: TableStore;
    let leaves: JsonLeaf[];
    let cliStderr: string;
    let diags: { va: bigint; kind: string }[];
    let mxr: boolean;
    let mem: RiscvMemRange[];

    /** ptview's translate (what `ptview translate` prints), or 'non-canonical' when it refuses. */
    const translateVa = async (va: bigint): Promise<Translation | 'non-canonical'> => {
      try {
        return await translate(space, va, store);
      } catch (e) {
        if (e instanceof TranslateError && /not a valid Sv/.test(e.message)) return 'non-canonical';
        throw e;
      }
    };
    /** What gva2gpa must answer for a VA, given our translation (see the header comment). */
    const expected = (t: Translation | 'non-canonical'): string => {
      if (t === 'non-canonical' || t.kind !== 'mapped') return 'unmapped';
      const pte = BigInt(t.trace.at(-1)!.raw);
      const loadable = (pte & 2n) !== 0n || (mxr && (pte & 8n) !== 0n);
      return loadable ? hex(t.pa!) : 'unmapped';
    };
    const answer = (q: Gva2gpa) => (q.kind === 'mapped' ? hex(q.pa) : q.kind === 'unmapped' ? 'unmapped' : `error: ${q.message}`);

    before(async () => {
      run = await bootGuest(name);
      qregs = parseInfoRegisters(await run.hmp('info registers'));
      // Before any gva2gpa: QEMU 7.2's debug translation sets A in PTEs it walks (seen on the
      // A-clear page), so info mem taken later no longer matches the dump.
      mem = parseInfoMemRiscv(await run.hmp('info mem'));
      const corePath = await run.dump();
      const satp = qregs.get('satp')!;
      const mstatus = qregs.get('mstatus')!;
      mxr = ((mstatus >> 19n) & 1n) === 1n;
      const out = await run$(process.execPath, [CLI, 'dump', '--core', corePath, '--reg', `satp=${hex(satp)}`, '--reg', `mstatus=${hex(mstatus)}`, '--leaves', '--json'], { maxBuffer: 64 << 20 });
      leaves = out.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as JsonLeaf);
      cliStderr = out.stderr;
      core = await openQemuCore(corePath);
      space = spaceFromRegisters('riscv64', new Map([['satp', satp], ['mstatus', mstatus]]));
      root = space.roots[0];
      store = new TableStore(core.memory);
      diags = [];
      await walk(space.roots, store, { diagnostic: (d) => diags.push({ va: BigInt(d.root.toVirt(d.linear)), kind: d.kind }) });
    });

    after(async () => {
      await core?.close();
      await run?.kill();
    });

    it(`has the satp and mstatus expect.json states (${expect.mode}), per info registers`, () => {
      for (const r of expect.registers) {
        const v = qregs.get(r.name);
        assert.ok(v !== undefined, `info registers shows ${r.name}`);
        assert.equal(hex(v & BigInt(r.mask)), hex(BigInt(r.value)), r.name);
      }
      assert.equal(root.format.mode, expect.mode);
      assert.equal(root.tablePa, Number((qregs.get('satp')! & 0xfffffffffffn) << 12n));
    });

    it(`lists exactly the ${expect.leaves} leaves of info mem (VA, PA, size, rwxugad); misaligned superpages fault`, async () => {
      assert.equal(leaves.length, expect.leaves, 'leaves in the CLI JSON');
      // QEMU lists misaligned superpages as mappings; the hardware faults on them, so do we.
      const faulting = new Set(diags.filter((d) => d.kind === 'reserved-bits').map((d) => hex(d.va)));
      assert.equal(faulting.size, expect.misaligned, [...faulting].join(' '));
      assert.equal(diags.length, expect.misaligned, JSON.stringify(diags.map((d) => [hex(d.va), d.kind])));
      assert.equal((cliStderr.match(/reserved bits/g) ?? []).length >= 1, true, cliStderr);
      const theirs = mem.filter((m) => !faulting.has(hex(m.va)));
      assert.equal(mem.length - theirs.length, expect.misaligned, 'each misaligned superpage is one info mem line');
      // Merge ours the way info mem does: continuing in VA and PA with equal bits.
      const ours: { va: bigint; pa: bigint; size: bigint; attrs: string }[] = [];
      for (const l of leaves) {
        const va = BigInt(l.va) & M64;
        const pa = BigInt(l.pa);
        const attrs = letters(BigInt(l.entry));
        const last = ours.at(-1);
        if (last && last.va + last.size === va && last.pa + last.size === pa && last.attrs === attrs) last.size += BigInt(l.size);
        else ours.push({ va, pa, size: BigInt(l.size), attrs });
      }
      const fmt = (r: { va: bigint; pa: bigint; size: bigint; attrs: string }) => `${hex(r.va)} ${hex(r.pa)} ${hex(r.size)} ${r.attrs}`;
      assert.deepEqual(ours.map(fmt), theirs.map(fmt));
    });

    it('translates several offsets of every leaf exactly like gva2gpa', async () => {
      const vas: bigint[] = [];
      leaves.forEach((l, i) => {
        for (const off of leafProbeOffsets(BigInt(l.size), i + 1)) vas.push((BigInt(l.va) + off) & M64);
      });
      const ours = await Promise.all(vas.map(async (va) => expected(await translateVa(va))));
      const theirs = (await gva2gpaMany(run.hmp, vas)).map(answer);
      const rows = (a: string[]) => a.map((x, i) => `${hex(vas[i])} -> ${x}`);
      assert.deepEqual(rows(ours), rows(theirs));
      const mapped = theirs.filter((t) => t !== 'unmapped').length;
      // every leaf is probed; only execute-only pages answer Unmapped
      assert.ok(vas.length >= expect.leaves * 3, `${vas.length} probes`);
      assert.ok(mapped >= vas.length * 0.75, `${mapped} of ${vas.length} probes mapped`);
    });

    it('agrees with gva2gpa on 400 probes spread over the address space, most of them unmapped', async () => {
      const bits = BigInt(root.inputBits);
      const next = lcg(0x2545f4914f6cdd1dn);
      const vas = probesAround(leaves.map((l) => ({ va: BigInt(l.va), size: BigInt(l.size) })), 200, next);
      for (let i = 0; i < 200; i++) {
        // anywhere: each level's index near a populated slot (0..5, 256, 510, 511) or random
        let va = next() & 0xfffn;
        for (const lvl of root.format.levels) {
          const r = next();
          const idx = r & 1n ? [0n, 1n, 2n, 3n, 4n, 5n, 256n, 510n, 511n][Number((r >> 8n) % 9n)] : (r >> 8n) & 511n;
          va |= idx << BigInt(lvl.shift);
        }
        if (i % 25 === 7) va |= 1n << (bits + 2n); // a few non-canonical ones
        else if ((va >> (bits - 1n)) & 1n) va |= M64 ^ ((1n << bits) - 1n); // sign-extend
        vas.push(va);
      }
      const ours = await Promise.all(vas.map(async (va) => expected(await translateVa(va))));
      const theirs = (await gva2gpaMany(run.hmp, vas)).map(answer);
      const rows = (a: string[]) => a.map((x, i) => `${hex(vas[i])} -> ${x}`);
      assert.deepEqual(rows(ours), rows(theirs));
      const unmapped = theirs.filter((t) => t === 'unmapped').length;
      assert.ok(unmapped >= 100 && vas.length - unmapped >= 50, `${unmapped} unmapped, ${vas.length - unmapped} mapped`);
    });

    it('gives each hand-derived fact of expect.json, and so does QEMU', async () => {
      const facts = expect.facts;
      const q = await gva2gpaMany(run.hmp, facts.map((f) => BigInt(f.va)));
      let mappedFacts = 0;
      for (const [i, f] of facts.entries()) {
        const va = BigInt(f.va);
        const t = await translateVa(va);
        const line = mem.find((m) => m.va <= va && va < m.va + m.size);
        if (f.mapped === false) {
          assert.equal(answer(q[i]), 'unmapped', `QEMU: ${f.va} (${f.note})`);
          if (f.noncanonical) assert.equal(t, 'non-canonical', f.va);
          else if (f.misaligned) {
            assert.ok(t !== 'non-canonical' && t.kind === 'invalid' && t.trace.at(-1)?.kind === 'reserved', `${f.va}: ${JSON.stringify(t)}`);
            assert.ok(line, `info mem lists the misaligned superpage at ${f.va}`);
          } else {
            assert.ok(t !== 'non-canonical' && t.kind === 'not-mapped', `${f.va}: ${t === 'non-canonical' ? t : t.kind}`);
            assert.equal(line, undefined, `info mem has nothing at ${f.va}`);
          }
          continue;
        }
        mappedFacts++;
        // QEMU's side of the fact: info mem's leaf bits and, for readable pages, gva2gpa.
        assert.ok(line, `info mem covers ${f.va}`);
        assert.equal(line.attrs, f.attrs, `info mem bits at ${f.va}`);
        assert.equal(hex(line.pa + (va - line.va)), f.pa, `info mem PA at ${f.va}`);
        assert.equal(answer(q[i]), f.attrs![0] === 'r' ? f.pa : 'unmapped', `gva2gpa ${f.va}`);
        // ours: the translation and the effective rights (S-mode with SUM=0, MXR=0; U-mode)
        assert.ok(t !== 'non-canonical' && t.kind === 'mapped', `${f.va} mapped`);
        assert.equal(hex(t.pa!), f.pa, f.va);
        assert.equal(hex(t.size!), f.size, `${f.va} size`);
        const s = f.smode!;
        const u = f.umode!;
        const r = t.rights!;
        // Rights v2: info mem's letters of a U page are the user fields, S-mode's (SUM=0) the
        // privileged ones; user = userRead || userWrite.
        const got = { read: r.read, write: r.write, exec: r.exec, userRead: r.userRead, userWrite: r.userWrite, userExec: r.userExec, user: r.user };
        const want = {
          read: s[0] === 'r', write: s[1] === 'w', exec: s[2] === 'x', userRead: u[0] === 'r', userWrite: u[1] === 'w', userExec: u[2] === 'x',
          user: u[0] === 'r' || u[1] === 'w',
        };
        assert.deepEqual(got, want, `${f.va} rights (${f.note})`);
      }
      assert.equal(mappedFacts, facts.filter((f) => f.mapped !== false).length);
      assert.ok(mappedFacts >= 15 && facts.length - mappedFacts >= 7, `${mappedFacts} mapped facts of ${facts.length}`);
    });

    it("agrees with the guest's own S-mode loads and stores (trap causes) with SUM=0, SUM=1 and MXR=1", async () => {
      const nm = await run$('riscv64-linux-gnu-nm', [run.kernel]);
      const sym = (s: string) => Number('0x' + new RegExp(`^([0-9a-f]+) \\w ${s}$`, 'm').exec(nm.stdout)![1]);
      const head = Buffer.from(await core.memory.read(sym('probes') as PhysAddr, 8));
      const n = Number(head.readBigUInt64LE(0));
      const list = Buffer.from(await core.memory.read((sym('probes') + 8) as PhysAddr, n * 8));
      const res = Buffer.from(await core.memory.read(sym('results') as PhysAddr, n * 48));
      const satp = qregs.get('satp')!;
      const base = qregs.get('mstatus')! & ~(3n << 18n);
      const variants = [['SUM=0', 0n], ['SUM=1', 1n << 18n], ['MXR=1', 1n << 19n]] as const;
      const spaces = variants.map(([, bits]) => spaceFromRegisters('riscv64', new Map([['satp', satp], ['mstatus', base | bits]])));
      const cause = (v: bigint) => (v === M64 ? 'ok' : `cause ${v}`); // 13 load page fault, 15 store page fault
      const ours: string[] = [];
      const theirs: string[] = [];
      for (let i = 0; i < n; i++) {
        const va = list.readBigUInt64LE(i * 8);
        for (const [k, [label, bits]] of variants.entries()) {
          const q = [0, 1].map((j) => cause(res.readBigUInt64LE(i * 48 + k * 16 + j * 8)));
          theirs.push(`${hex(va)} ${label} load ${q[0]} store ${q[1]}`);
          let t: Translation | undefined;
          try {
            t = await translate(spaces[k], va, store);
          } catch (e) {
            if (!(e instanceof TranslateError)) throw e;
          }
          const r = t?.kind === 'mapped' ? t.rights! : undefined;
          const load = r?.read ? 'ok' : 'cause 13';
          // v2: the privileged write right already says whether S-mode may store (W, and SUM for U pages)
          const storeOk = r !== undefined && r.write;
          ours.push(`${hex(va)} ${label} load ${load} store ${storeOk ? 'ok' : 'cause 15'}`);
        }
      }
      assert.deepEqual(ours, theirs);
      const faults = theirs.filter((x) => x.includes('cause')).length;
      assert.ok(n >= 23 && faults >= n, `${n} VAs, ${faults} faulting probes`);
      assert.ok(theirs.some((x) => / SUM=1 load ok store ok/.test(x)) && theirs.some((x) => / MXR=1 load ok store cause 15/.test(x)));
    });

    it(`reads each of the ${expect.tables} tables once, though ${expect.mode === 'Sv39' ? 'nothing is' : 'subtrees are'} shared`, () => {
      assert.equal(store.stats.tablesRead, expect.tables);
    });
  });
}
