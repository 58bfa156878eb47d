// The ptview CLI and core on real QEMU dumps of our AArch64 guests (4K/16K/64K granules, TTBR0
// and TTBR1), compared with QEMU's `gva2gpa` (AArch64 has no info mem / info tlb): every leaf at
// several offsets, probes around the leaves and across both halves, and the hand-derived facts
// of expect.json. TTBR0/1, TCR, MAIR and SCTLR are not in an AArch64 core: they come from the
// gdbstub through real gdb-multiarch, as a user would read them, and go to the CLI with --reg.
//
// The rights have a QEMU oracle too: before READY the guest runs AT S1E1R/S1E1W/S1E0R/S1E0W on
// a list of VAs and stores PAR_EL1 (QEMU's real permission checks, fault codes and MAIR
// attribute) in RAM, which this test reads from the dump at the linker's `probes`/`results`.
//
// QEMU 7.2's gva2gpa is a debug stage 1 read at the current EL (EL1 here, PAN off): every valid
// mapping translates, including ones with AF clear; a reserved encoding, an invalid entry or a
// VA outside both halves answers "Unmapped".
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { PhysAddr, hex } from '../../../src/core/addr';
import { mairName } from '../../../src/core/formats/aarch64';
import { spaceFromRegisters } from '../../../src/core/formats';
import { TranslateError, Translation, translate } from '../../../src/core/ops/translate';
import { QemuCore, openQemuCore } from '../../../src/core/sources/elfCore';
import { AddressSpace } from '../../../src/core/space';
import { TableStore, walk } from '../../../src/core/walker';
import { Gva2gpa, gva2gpaMany, lcg, leafProbeOffsets, probesAround } from '../../harness/oracles';
import { GUESTS, GuestRun, REPO, bootGuest } from '../../harness/qemu';
import { gdbRegisters } from './gdbRegisters';

interface Fact {
  va: string;
  mapped?: false;
  reserved?: true;
  noncanonical?: true;
  pa?: string;
  size?: string;
  el1?: string;
  el0?: string;
  memType?: string;
  global?: boolean;
  contiguous?: boolean;
  accessed?: boolean;
  note?: string;
}
interface Expect {
  registers: { name: string; mask: string; value: string }[];
  roots: { name: string; mode: string; symbol: string }[];
  tables: number;
  leaves: number;
  reserved: number;
  facts: Fact[];
}
interface JsonLeaf {
  va: string;
  pa: string;
  size: number;
  root: string;
  read: boolean;
  write: boolean;
  exec: boolean;
  user: boolean;
  userExec: boolean;
  global: boolean;
  accessed: boolean;
  contiguous: boolean;
  memType: string;
}

const run$ = promisify(execFile);
const CLI = path.join(REPO, 'out', 'cli.js');
const M64 = (1n << 64n) - 1n;
/** GDB's names (QEMU cpreg names: SCTLR without _EL1) → the names ptview's --reg takes. */
const REGS: [string, string][] = [
  ['TTBR0_EL1', 'ttbr0_el1'], ['TTBR1_EL1', 'ttbr1_el1'], ['TCR_EL1', 'tcr_el1'], ['MAIR_EL1', 'mair_el1'],
  ['SCTLR', 'sctlr_el1'], ['ID_AA64MMFR0_EL1', 'id_aa64mmfr0_el1'],
];

for (const name of ['aarch64-4k', 'aarch64-16k', 'aarch64-64k', 'aarch64-64k-52bit']) {
  describe(`AArch64 guest ${name} vs QEMU`, function () {
    this.timeout(120000);
    const expect = JSON.parse(fs.readFileSync(path.join(GUESTS, name, 'expect.json'), 'utf8')) as Expect;
    let run: GuestRun;
    let core: QemuCore;
    let regs: Map<string, bigint>;
    let space: AddressSpace;
    let store: TableStore;
    let leaves: JsonLeaf[];
    let diags: { va: bigint; kind: string; root: string }[];

    /** ptview's translate (what `ptview translate` prints), or 'outside' when no root takes the VA. */
    const translateVa = async (va: bigint): Promise<Translation | 'outside'> => {
      try {
        return await translate(space, va, store);
      } catch (e) {
        if (e instanceof TranslateError) return 'outside';
        throw e;
      }
    };
    const expected = (t: Translation | 'outside') => (t !== 'outside' && t.kind === 'mapped' ? hex(t.pa!) : 'unmapped');
    const answer = (q: Gva2gpa) => (q.kind === 'mapped' ? hex(q.pa) : q.kind === 'unmapped' ? 'unmapped' : `error: ${q.message}`);
    const compare = async (vas: bigint[]) => {
      const ours = await Promise.all(vas.map(async (va) => expected(await translateVa(va))));
      const theirs = (await gva2gpaMany(run.hmp, vas)).map(answer);
      const rows = (a: string[]) => a.map((x, i) => `${hex(vas[i])} -> ${x}`);
      assert.deepEqual(rows(ours), rows(theirs));
      return theirs;
    };

    before(async () => {
      run = await bootGuest(name, { gdb: true });
      const g = await gdbRegisters(run.gdbPort!, REGS.map(([n]) => n));
      regs = new Map();
      for (const [gdbName, ours] of REGS) {
        const v = g.get(gdbName.toLowerCase());
        if (v !== undefined) regs.set(ours, v);
      }
      const corePath = await run.dump();
      const args = ['dump', '--core', corePath, '--leaves', '--json', ...[...regs].flatMap(([n, v]) => ['--reg', `${n}=${hex(v)}`])];
      const out = await run$(process.execPath, [CLI, ...args], { maxBuffer: 64 << 20 });
      leaves = out.stdout.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as JsonLeaf);
      core = await openQemuCore(corePath);
      space = spaceFromRegisters('aarch64', regs);
      store = new TableStore(core.memory);
      diags = [];
      await walk(space.roots, store, { diagnostic: (d) => diags.push({ va: BigInt(d.root.toVirt(d.linear)), kind: d.kind, root: d.root.name }) });
    });

    after(async () => {
      await core?.close();
      await run?.kill();
    });

    it('reads TTBR0/1, TCR, MAIR and SCTLR through gdb-multiarch as expect.json and the ELF symbols say', async () => {
      for (const r of expect.registers) {
        const v = regs.get(r.name === 'sctlr' ? 'sctlr_el1' : r.name);
        assert.ok(v !== undefined, `gdb shows ${r.name}`);
        assert.equal(hex(v & BigInt(r.mask)), hex(BigInt(r.value)), r.name);
      }
      // the root tables are where the linker put them (binutils' nm, not our code)
      const nm = await run$('aarch64-linux-gnu-nm', [run.kernel]);
      const sym = (s: string) => BigInt('0x' + new RegExp(`^([0-9a-f]+) \\w ${s}$`, 'm').exec(nm.stdout)![1]);
      assert.deepEqual(space.roots.map((r) => [r.name, r.format.mode, hex(r.tablePa)]), expect.roots.map((r) => [r.name, r.mode, hex(sym(r.symbol))]));
      assert.match(await run.hmp('info registers'), /EL1h/);
    });

    it('finds exactly the leaves and reserved entries the guest source has, in both halves', () => {
      assert.equal(leaves.length, expect.leaves);
      assert.ok(leaves.some((l) => l.root === 'ttbr0_el1') && leaves.some((l) => l.root === 'ttbr1_el1'));
      for (let i = 1; i < leaves.length; i++) assert.ok((BigInt(leaves[i - 1].va) & M64) < (BigInt(leaves[i].va) & M64), leaves[i].va);
      assert.deepEqual(diags.map((d) => d.kind), Array(expect.reserved).fill('reserved-bits'), JSON.stringify(diags.map((d) => [hex(d.va), d.kind])));
    });

    it('translates several offsets of every leaf exactly like gva2gpa', async () => {
      const vas: bigint[] = [];
      leaves.forEach((l, i) => {
        for (const off of leafProbeOffsets(BigInt(l.size), i + 1)) vas.push((BigInt(l.va) + off) & M64);
      });
      const theirs = await compare(vas);
      assert.ok(vas.length >= expect.leaves * 3, `${vas.length} probes`);
      assert.equal(theirs.filter((t) => t === 'unmapped').length, 0, 'every leaf translates at EL1');
    });

    it('agrees with gva2gpa on 600 probes around the leaves and across both halves', async () => {
      const next = lcg(0x9e3779b97f4a7c15n);
      const vas = probesAround(leaves.map((l) => ({ va: BigInt(l.va), size: BigInt(l.size) })), 300, next);
      const tbi0 = ((regs.get('tcr_el1')! >> 37n) & 1n) === 1n;
      for (let i = 0; i < 300; i++) {
        const root = space.roots[i % space.roots.length];
        const bits = BigInt(root.inputBits);
        let linear = next() & ((1n << bits) - 1n);
        // half of them near the populated low and high indexes of each level
        for (const lvl of root.format.levels) {
          const r = next();
          if (r & 1n) continue;
          const top = (1n << BigInt(lvl.indexBits)) - 1n;
          const idx = [0n, 1n, 2n, 3n, 4n, 5n, 32n, top - 3n, top - 1n, top][Number((r >> 8n) % 10n)] & top;
          linear = (linear & ~(top << BigInt(lvl.shift))) | (idx << BigInt(lvl.shift));
        }
        let va = root.half === 'upper' ? (M64 ^ ((1n << bits) - 1n)) | linear : linear;
        if (i % 30 === 11) va ^= 1n << 53n; // outside both halves (above 52 bits, inside a TBI byte)
        else if (tbi0 && root.half === 'lower' && i % 4 === 0) va |= (next() & 0x7fn) << 56n; // a tag
        vas.push(va);
      }
      const theirs = await compare(vas);
      const unmapped = theirs.filter((t) => t === 'unmapped').length;
      assert.ok(unmapped >= 100 && vas.length - unmapped >= 150, `${unmapped} unmapped, ${vas.length - unmapped} mapped`);
    });

    it('gives each hand-derived fact of expect.json: PA, size, EL1/EL0 rights, MAIR type, nG, contiguous, AF', async () => {
      const facts = expect.facts;
      const q = (await gva2gpaMany(run.hmp, facts.map((f) => BigInt(f.va)))).map(answer);
      let mappedFacts = 0;
      for (const [i, f] of facts.entries()) {
        const t = await translateVa(BigInt(f.va));
        if (f.mapped === false) {
          assert.equal(q[i], 'unmapped', `QEMU: ${f.va} (${f.note})`);
          if (f.noncanonical) assert.equal(t, 'outside', f.va);
          else if (f.reserved) assert.ok(t !== 'outside' && t.kind === 'invalid' && t.trace.at(-1)?.kind === 'reserved', `${f.va}: ${JSON.stringify(t)}`);
          else assert.ok(t !== 'outside' && t.kind === 'not-mapped', `${f.va}: ${t === 'outside' ? t : t.message}`);
          continue;
        }
        mappedFacts++;
        assert.equal(q[i], f.pa, `gva2gpa ${f.va}`);
        assert.ok(t !== 'outside' && t.kind === 'mapped', `${f.va} mapped`);
        assert.equal(hex(t.pa!), f.pa, f.va);
        assert.equal(hex(t.size!), f.size, `${f.va} size`);
        const r = t.rights!;
        const e1 = f.el1!;
        const e0 = f.el0!;
        // Rights v2: read/write/exec = EL1, userRead/userWrite/userExec = EL0 (PSTATE.PAN=0 here)
        assert.deepEqual(
          { read: r.read, write: r.write, exec: r.exec, userRead: r.userRead, userWrite: r.userWrite, userExec: r.userExec },
          { read: e1[0] === 'r', write: e1[1] === 'w', exec: e1[2] === 'x', userRead: e0[0] === 'r', userWrite: e0[1] === 'w', userExec: e0[2] === 'x' },
          `${f.va} rights (${f.note})`,
        );
        assert.equal(t.memType, f.memType, `${f.va} memory type`);
        // the leaf's own bits, from the CLI record of the same page
        const page = BigInt(t.pageVa!);
        const rec = leaves.find((l) => (BigInt(l.va) & M64) === page);
        assert.ok(rec, `CLI leaf at ${t.pageVa}`);
        assert.deepEqual({ global: rec.global, contiguous: rec.contiguous, accessed: rec.accessed, memType: rec.memType },
          { global: f.global, contiguous: f.contiguous, accessed: f.accessed, memType: f.memType }, `${f.va} bits`);
      }
      assert.equal(mappedFacts, facts.filter((f) => f.mapped !== false).length);
      assert.ok(mappedFacts >= 12 && facts.length - mappedFacts >= 6, `${mappedFacts} mapped facts of ${facts.length}`);
    });

    it("agrees with the guest's own AT S1E1R/S1E1W/S1E0R/S1E0W (PAR_EL1: PA, fault kind, MAIR attribute)", async () => {
      const nm = await run$('aarch64-linux-gnu-nm', [run.kernel]);
      const sym = (s: string) => Number('0x' + new RegExp(`^([0-9a-f]+) \\w ${s}$`, 'm').exec(nm.stdout)![1]);
      const list = Buffer.from(await core.memory.read(sym('probes') as PhysAddr, 512 * 24));
      const vas: bigint[] = [];
      for (let o = 0; list.readBigUInt64LE(o + 8) !== 0n; o += 24) {
        const [base, count, stride] = [0, 8, 16].map((k) => list.readBigUInt64LE(o + k));
        for (let i = 0n; i < count; i++) vas.push((base + i * stride) & M64);
      }
      const par = Buffer.from(await core.memory.read(sym('results') as PhysAddr, vas.length * 32));
      // PAR_EL1: F (bit 0) = 0 → PA[51:12] and ATTR[63:56]; F = 1 → FST[6:1]
      const FAULT = ['address-size', 'translation', 'access-flag', 'permission'];
      const outcome = (v: bigint) =>
        v & 1n ? `fault:${FAULT[Number((v >> 3n) & 0xfn)] ?? hex((v >> 1n) & 0x3fn)}` : `${hex(v & 0x000ffffffffff000n)} ${mairName(Number(v >> 56n))}`;
      const ours: string[] = [];
      const theirs: string[] = [];
      let permissionFaults = 0;
      for (const [i, va] of vas.entries()) {
        const q = [0, 1, 2, 3].map((k) => outcome(par.readBigUInt64LE(i * 32 + k * 8)));
        theirs.push(`${hex(va)} ${q.join(' | ')}`);
        permissionFaults += q.filter((x) => x === 'fault:permission').length;
        const t = await translateVa(va);
        let mine: string[];
        if (t === 'outside' || t.kind !== 'mapped') mine = Array(4).fill('fault:translation');
        else if (!((BigInt(t.trace.at(-1)!.raw) >> 10n) & 1n)) mine = Array(4).fill('fault:access-flag'); // TCR.HA = 0
        else {
          const ok = `${hex(BigInt(t.pa!) & ~0xfffn)} ${t.memType}`;
          const r = t.rights!;
          mine = [r.read, r.write, r.userRead, r.userWrite].map((allowed) => (allowed ? ok : 'fault:permission'));
        }
        ours.push(`${hex(va)} ${mine.join(' | ')}`);
      }
      assert.deepEqual(ours, theirs);
      assert.ok(vas.length >= 40 && permissionFaults >= 20, `${vas.length} probes, ${permissionFaults} permission faults`);
      // AF clear faults on a real access (TCR.HA = 0), though gva2gpa translates it
      const afFaults = theirs.filter((x) => x.includes('fault:access-flag')).length;
      assert.equal(afFaults > 0, expect.facts.some((f) => f.accessed === false), `${afFaults} access-flag probes`);
    });

    it(`reads each of the ${expect.tables} tables once, though subtrees are shared`, () => {
      assert.equal(store.stats.tablesRead, expect.tables);
    });
  });
}
