// The built CLI (out/cli.js) on a real QEMU dump of the x86_64 sample guest: every output form,
// checked against QEMU's own answers, and every error path with its message and exit code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseGva2gpa, parseInfoRegisters, parseInfoTlb } from '../../harness/oracles';
import { GuestRun, REPO, bootGuest } from '../../harness/qemu';

const CLI = path.join(REPO, 'out', 'cli.js');

function ptview(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('ptview CLI on a QEMU core of x86-64-4level', function () {
  this.timeout(120000);
  let run: GuestRun;
  let core: string;
  let efer: string;
  let regs: Map<string, bigint>;
  const src = () => ['--core', core, '--reg', `EFER=${efer}`];

  before(async () => {
    run = await bootGuest('x86-64-4level');
    core = await run.dump();
    regs = parseInfoRegisters(await run.hmp('info registers'));
    efer = '0x' + regs.get('efer')!.toString(16);
  });
  after(async () => run?.kill());

  it('dump --leaves --json: one object per leaf with the documented fields, equal to info tlb', async () => {
    const r = ptview(['dump', '--leaves', '--json', ...src()]);
    assert.equal(r.code, 0, r.err);
    const leaves = r.out.trim().split('\n').map((l) => JSON.parse(l));
    // The guest's recursive slot PML4[510] is reported, not descended (its window is QEMU's alone).
    assert.match(r.err, /PML4\[510\] at 0x[0-9a-f]+ points back to an ancestor table .*not descended/);
    const window = [0xffffff0000000000n, 0xffffff8000000000n];
    const all = parseInfoTlb(await run.hmp('info tlb'));
    const tlb = all.filter((t) => t.va < window[0] || t.va >= window[1]);
    assert.ok(tlb.length < all.length);
    assert.equal(leaves.length, tlb.length);
    for (const k of ['va', 'pa', 'size', 'level', 'entry', 'read', 'write', 'exec', 'user', 'userExec', 'global', 'accessed', 'dirty', 'memType']) {
      assert.ok(k in leaves[0], k);
    }
    const byVa = new Map(tlb.map((t) => ['0x' + t.va.toString(16), t]));
    for (const l of leaves) {
      const t = byVa.get(l.va)!;
      assert.ok(t, l.va);
      assert.equal(BigInt(l.pa), t.pa);
      assert.equal(l.global, t.global);
      assert.equal(l.dirty, t.dirty);
      assert.match(l.va, /^0x[0-9a-f]+$/);
      assert.equal(typeof l.size, 'number');
    }
  });

  it('dump --json: merged ranges cover exactly the leaves', () => {
    const leaves = ptview(['dump', '--leaves', '--json', ...src()]).out.trim().split('\n').map((l) => JSON.parse(l));
    const r = ptview(['dump', '--json', ...src()]);
    assert.equal(r.code, 0);
    const ranges = r.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(ranges.length < leaves.length);
    // A folded range (repeat, stride) stands for `repeat` copies of va..end.
    assert.equal(ranges.reduce((n, x) => n + x.pages * (x.repeat ?? 1), 0), leaves.length);
    assert.equal(ranges.reduce((n, x) => n + x.size * (x.repeat ?? 1), 0), leaves.reduce((n, x) => n + x.size, 0));
    for (const x of ranges) assert.equal(BigInt(x.end) - BigInt(x.va), BigInt(x.size));
  });

  it('dump filters: w|x and --half kernel select effective rights', () => {
    const leaves = (f: string) => ptview(['dump', '--leaves', '--json', '--filter', f, ...src()]).out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
    const all = leaves('w|x');
    // gdb-pt-dump's w|x is "writable or executable"; w+x is both (the W+X audit's set).
    assert.ok(all.length > 0 && all.every((l) => l.write || l.exec || l.userExec));
    assert.ok(all.some((l) => !l.write) && all.some((l) => !(l.exec || l.userExec)));
    const both = leaves('w+x');
    assert.ok(both.length > 0 && both.length < all.length && both.every((l) => l.write && (l.exec || l.userExec)));
    const k = ptview(['dump', '--leaves', '--json', '--half', 'kernel', '--filter', '_w', ...src()]).out.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(k.length > 0 && k.every((l) => l.va.startsWith('0xffff') && !l.write));
    const bad = ptview(['dump', '--filter', 'w!x', ...src()]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /unknown filter 'w!x'/);
  });

  it('translate: the trace and PA agree with gva2gpa; unmapped exits 1', async () => {
    for (const va of ['0xffffffff80001234', '0x80001234', '0x8000a05010']) {
      const r = ptview(['translate', va, '--json', ...src()]);
      assert.equal(r.code, 0, r.err);
      const t = JSON.parse(r.out);
      assert.equal(t.kind, 'mapped');
      assert.equal(BigInt(t.pa), parseGva2gpa(await run.hmp(`gva2gpa ${va}`)));
      assert.ok(t.trace.length >= 2);
    }
    const ro = JSON.parse(ptview(['translate', '0x80001234', '--json', ...src()]).out);
    assert.equal(ro.rights.write, false);
    assert.ok(ro.provenance.some((p: { permName: string; levelName: string }) => p.permName === 'write' && p.levelName === 'PDPT'));
    const text = ptview(['translate', '0x80001234', ...src()]);
    assert.match(text.out, /no write: PDPT R\/W=0/);
    const miss = ptview(['translate', '0x5000000000', '--json', ...src()]);
    assert.equal(miss.code, 1);
    assert.equal(JSON.parse(miss.out).kind, 'not-mapped');
  });

  it('find: every VA of a physical page, as gva2gpa confirms', async () => {
    const r = ptview(['find', '0x100000', '--json', ...src()]);
    assert.equal(r.code, 0);
    const aliases = r.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(aliases.length >= 3);
    for (const a of aliases) assert.equal(parseGva2gpa(await run.hmp(`gva2gpa ${a.vaOfPa}`)), 0x100000n, a.vaOfPa);
  });

  it('audit: W+X summary and a writable alias of kernel text', () => {
    const r = ptview(['audit', '--json', ...src()]);
    assert.equal(r.code, 0);
    const a = JSON.parse(r.out);
    assert.match(a.summary, /^Checked W\+X mappings: FAILED, \d+ W\+X pages found\.$/);
    assert.ok(a.findings.some((f: { kind: string; message: string }) => f.kind === 'writable-alias-of-exec' && /0xffffffff80000000/.test(f.message)));
  });

  it('raw images give the same leaves as the core', async () => {
    const raw = path.join(run.dir, 'ram.bin');
    await run.hmp(`pmemsave 0 0x2000000 "${raw}"`); // quoted: HMP would parse a bare /path as division
    const reg = (n: string) => `${n.toUpperCase()}=0x${regs.get(n)!.toString(16)}`;
    const r = ptview(['dump', '--leaves', '--json', '--raw', raw, '--base', '0', '--arch', 'x86_64', '--reg', reg('cr0'), '--reg', reg('cr3'), '--reg', reg('cr4'), '--reg', reg('efer')]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, ptview(['dump', '--leaves', '--json', ...src()]).out);
  });

  it('a core without EFER: long mode and NXE assumed as Linux runs, said in a note; the leaves equal those with the guest\'s EFER', () => {
    const efer = regs.get('efer')!;
    assert.equal(efer & 0xc00n, 0xc00n, 'the guest runs with EFER.LMA and EFER.NXE'); // Intel SDM vol. 3A §2.2.1
    const r = ptview(['dump', '--leaves', '--json', '--core', core]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /note: EFER unknown: assuming LMA=1 \(long mode\) and NXE=1 \(bit 63 is execute-disable\), as Linux runs \(give --reg EFER=/);
    assert.equal(r.out, ptview(['dump', '--leaves', '--json', ...src()]).out);
    assert.doesNotMatch(ptview(['dump', ...src()]).err, /EFER unknown/);
  });

  it('errors: specific messages and exit codes', () => {
    const cases: [string[], number, RegExp][] = [
      [['dump', ...src(), '--reg', 'TTBR0_EL1=1'], 2, /unknown register 'TTBR0_EL1' for x86_64; known: CR0/],
      [['dump', ...src(), '--reg', 'CR3'], 2, /expected NAME=VALUE/],
      [['translate', '0xzz', ...src()], 2, /invalid virtual address '0xzz'/],
      [['translate', '0x0000900000000000', ...src()], 2, /not canonical/],
      [['dump', '--core', '/etc/hostname'], 3, /is not a core ptview knows: expected an ELF core .* or a compressed kdump/],
      [['dump', '--core', '/nonexistent.core'], 3, /cannot open core file/],
      [['dump', ...src(), '--arch', 'aarch64'], 3, /does not match the core, which is x86_64/],
      [['dump', '--raw', core], 2, /--raw needs --arch/],
      [['dump'], 2, /give exactly one of --core/],
      [['bogus'], 2, /unknown command/],
    ];
    for (const [args, code, re] of cases) {
      const r = ptview(args);
      assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, re, args.join(' '));
    }
  });

  it('simulate: edits a shadow of the tables, leaves the core unchanged, and names the TLB maintenance', () => {
    const leaves = ptview(['dump', '--leaves', '--json', ...src()]).out.trim().split('\n').map((l) => JSON.parse(l));
    const w4k = leaves.find((l) => l.size === 4096 && l.write && l.va.startsWith('0xffff'));
    const big = leaves.find((l) => l.size === 2 ** 30);
    assert.ok(w4k && big, 'the guest has a writable kernel 4K page and a 1G page');
    const hash = () => require('node:crypto').createHash('sha256').update(fs.readFileSync(core)).digest('hex');
    const before = hash();
    const inside = '0x' + (BigInt(big.va) + 0x1000n).toString(16);
    const r = ptview(['simulate', '--json', ...src(), '--edit', `protect ${w4k.va} 4K -w`, '--edit', `unmap ${inside} 4K`]);
    assert.equal(r.code, 0, r.err);
    const j = JSON.parse(r.out);
    const [prot, unmap] = j.edits;
    assert.deepEqual(prot.changes.map((c: { entryPa: string; before: string; after: string }) => [c.entryPa, c.before, BigInt(c.after)]), [[w4k.entryPa, w4k.entry, BigInt(w4k.entry) & ~2n]]);
    assert.deepEqual(prot.tlb.ops.map((o: { insn: string }) => o.insn), [`invlpg [${w4k.va}]`]);
    assert.equal(unmap.changes[0].why, 'split');
    assert.equal(unmap.changes[0].entryPa, big.entryPa);
    assert.deepEqual(unmap.tlb.ops.map((o: { insn: string }) => o.insn), [`invlpg [${big.va}]`]);
    assert.ok(j.diff.removed.some((x: { va: string; size: number }) => x.va === big.va && x.size === 2 ** 30));
    assert.equal(hash(), before, 'the core file is untouched');
    assert.equal(ptview(['translate', inside, ...src()]).code, 0, 'the real tables still map it');
    // Text: the edit's title in the user's own words, and a warning when an edit creates W+X.
    // A writable, non-executable 4K page whose own entry (not a level above) withholds execute.
    const wnx = leaves.filter((l) => l.size === 4096 && l.write && !l.exec).find((l) => {
      const j = JSON.parse(ptview(['simulate', '--json', ...src(), '--edit', `protect ${l.va} 4K +x`]).out);
      return j.edits[0].changes.length === 1 && j.edits[0].hazards.length === 0;
    });
    assert.ok(wnx, 'a writable page that +x makes executable');
    const t = ptview(['simulate', ...src(), '--edit', `protect  ${wnx.va} 4K +x`]);
    assert.equal(t.code, 0, t.err);
    assert.match(t.out, new RegExp(`^edit 1: protect ${wnx.va} 4K \\+x \\(cr3\\)$`, 'm'));
    assert.match(t.out, new RegExp(`^warning: the edits create W\\+X memory \\(writable and executable\\): ${wnx.va}-`, 'm'));
    assert.doesNotMatch(ptview(['simulate', ...src(), '--edit', `protect ${w4k.va} 4K -w`]).out, /create W\+X/);
    const bad: [string, RegExp][] = [[`map ${big.va} 0x0 4K rw`, /already mapped by the 1G PDPT/], ['frob 1 2', /unknown edit 'frob'/], [`protect ${w4k.va} 4K w`, /use \+w -w/]];
    for (const [edit, re] of bad) {
      const e = ptview(['simulate', ...src(), '--edit', edit]);
      assert.equal(e.code, 2, e.err);
      assert.match(e.err, re);
    }
  });

  it('a truncated core: the missing range is named and the rest is still walked', () => {
    const cut = path.join(run.dir, 'cut.core');
    // Keep the headers and the first 0x205000 bytes of RAM: PML4..PDPT_HI survive, later tables do not.
    const fd = fs.openSync(core, 'r');
    const buf = Buffer.alloc(0x205000 + 0x1000);
    fs.readSync(fd, buf, 0, buf.length, 0);
    fs.closeSync(fd);
    fs.writeFileSync(cut, buf);
    const r = ptview(['dump', '--leaves', '--json', '--core', cut, '--reg', `EFER=${efer}`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /core is truncated/);
    assert.match(r.err, /could not be read/);
    const leaves = r.out.trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(leaves.length > 100, 'the tables that are present are still walked');
  });
});
