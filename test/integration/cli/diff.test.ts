// `ptview diff` on a real guest: x86-64-changes stops twice (PTVIEW-READY, then after an NMI
// PTVIEW-STAGE2) and changes its tables in between (map, unmap, protect, a rights upgrade, a block
// split, a new PA, a root switch with a new PCID). A QEMU core of each stop, a snapshot saved
// live through the gdbstub at the first stop, and the live second stop must give exactly those
// changes, with the TLB maintenance each one required. The second stop's translations are
// confirmed by QEMU's own gva2gpa.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseGva2gpa, parseInfoRegisters } from '../../harness/oracles';
import { GuestRun, REPO, bootGuest } from '../../harness/qemu';

const CLI = path.join(REPO, 'out', 'cli.js');

function ptview(args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

// The guest's IA32_PAT (it prints it; cores and the gdbstub do not carry it): PAT index 4 is WC.
const PAT = ['--reg', 'IA32_PAT=0x0400050100070406'];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Change = {
  kind: string; root: string; va?: string; end?: string; fields?: string[]; what?: string; pa?: string; level?: string;
  before?: Record<string, unknown> | null; after?: Record<string, unknown> | null;
  tlb: Array<{ insn: string }>; tlbNotes?: string[]; hazards?: Array<{ kind: string }>;
};

// What the guest does between its two stops (test/guests/common/x86-64.S, CHANGES), as
// kind va-end fields, and the maintenance each needs (Intel SDM vol. 3 §4.10.4).
const EXPECTED_LEAVES: Array<[string, string[]]> = [
  ['added 0xffffffff80008000-0xffffffff80009000', []], // not present → present: nothing cached
  ['changed 0x130000-0x131000 write', []], // rights upgrade: at most a spurious fault
  ['changed 0xa00000-0xc00000 size', ['invlpg [0xa00000]']], // the 2 MiB translation goes
  ['removed 0x12d000-0x12e000', ['invlpg [0x12d000]']],
  ['changed 0xffffffff80006000-0xffffffff80007000 write', ['invlpg [0xffffffff80006000]']],
  ['changed 0xffffffff80007000-0xffffffff80008000 pa', ['invlpg [0xffffffff80007000]']],
];

function byKey(changes: Change[]): Map<string, Change> {
  const m = new Map<string, Change>();
  for (const c of changes) {
    if (c.kind !== 'added' && c.kind !== 'removed' && c.kind !== 'changed') continue;
    if (c.fields!.every((f) => f === 'accessed' || f === 'dirty') && c.fields!.length) continue; // the CPU's own A/D updates
    m.set(`${c.kind} ${c.va}-${c.end}${c.fields!.length ? ' ' + c.fields!.join(',') : ''}`, c);
  }
  return m;
}

function checkChanges(changes: Change[], what: string): void {
  const leaves = byKey(changes);
  assert.deepEqual([...leaves.keys()].sort(), EXPECTED_LEAVES.map(([k]) => k).sort(), `${what}: leaf changes`);
  for (const [k, ops] of EXPECTED_LEAVES) assert.deepEqual(leaves.get(k)!.tlb.map((o) => o.insn), ops, `${what}: TLB for ${k}`);
  assert.match(leaves.get('added 0xffffffff80008000-0xffffffff80009000')!.tlbNotes!.join(' '), /not present need no invalidation/);
  assert.match(leaves.get('changed 0x130000-0x131000 write')!.tlbNotes!.join(' '), /only gained rights/);
  // The split keeps frames and type: only the size differs, as 512 leaves after.
  const split = leaves.get('changed 0xa00000-0xc00000 size')!;
  assert.equal(split.before!.memType, 'WC');
  assert.equal(split.after!.memType, 'WC');
  // Hardware A/D updates need no maintenance either (x86 re-walks on a stale entry).
  for (const c of changes) if (c.fields?.length && c.fields.every((f) => f === 'accessed' || f === 'dirty')) assert.deepEqual(c.tlb, [], `${what}: A/D ${c.va}`);
  const root = changes.filter((c) => c.kind === 'root');
  assert.equal(root.length, 1, what);
  assert.deepEqual(root[0].before, { tablePa: '0x200000', info: { mode: '4-level', PCID: '5' } });
  assert.deepEqual(root[0].after, { tablePa: '0x211000', info: { mode: '4-level', PCID: '6' } });
  const entries = changes.filter((c) => c.kind === 'entry').map((c) => `${c.what} ${c.va}`);
  assert.deepEqual(entries, ['split 0xa00000'], what);
  const tables = changes.filter((c) => c.kind === 'table').map((c) => `${c.what} ${c.pa} ${c.level}`).sort();
  assert.deepEqual(tables, ['allocated 0x210000 PT', 'allocated 0x211000 PML4', 'freed 0x200000 PML4'], what);
}

describe('ptview diff on x86-64-changes: two stops of a guest that edits its tables', function () {
  this.timeout(180000);
  let run: GuestRun;
  let core1: string;
  let core2: string;
  let snap1: string;
  let efer: string;
  let gdb: string;
  let raw1: string;
  let raw2: string;
  let regs1: Map<string, bigint>;

  before(async () => {
    run = await bootGuest('x86-64-changes', { gdb: true });
    gdb = `127.0.0.1:${run.gdbPort}`;
    core1 = await run.dump(path.join(run.dir, 'stop1.elf')); // pauses the guest
    assert.match(run.serial(), /IA32_PAT=0x0400050100070406/);
    regs1 = parseInfoRegisters(await run.hmp('info registers'));
    efer = '0x' + regs1.get('efer')!.toString(16);
    raw1 = path.join(run.dir, 'stop1.raw');
    await run.hmp(`pmemsave 0 0x2000000 "${raw1}"`);
    snap1 = path.join(run.dir, 'stop1.json');
    const saved = ptview(['dump', '--gdb', gdb, '--save', snap1, '--json']);
    assert.equal(saved.code, 0, saved.err);
    await run.cont();
    await run.qmp('inject-nmi');
    for (let i = 0; !/^PTVIEW-STAGE2\r?$/m.test(run.serial()); i++) {
      if (i > 400) throw new Error(`no PTVIEW-STAGE2 after the NMI; serial: ${run.serial()}`);
      await sleep(25);
    }
    core2 = await run.dump(path.join(run.dir, 'stop2.elf'));
    raw2 = path.join(run.dir, 'stop2.raw');
    await run.hmp(`pmemsave 0 0x2000000 "${raw2}"`);
  });
  after(async () => run?.kill());

  it('--core OLD --core NEW --json: exactly the guest\'s changes, with the TLB maintenance each required', () => {
    const r = ptview(['diff', '--core', core1, '--core', core2, '--reg', `EFER=${efer}`, ...PAT, '--json']);
    assert.equal(r.code, 0, r.err);
    checkChanges(r.out.trim().split('\n').map((l) => JSON.parse(l)), 'cores');
  });

  it('--raw OLD --raw NEW with --new-reg for the new CR3 (pmemsave images): the same changes', () => {
    const reg = (n: string) => ['--reg', `${n.toUpperCase()}=0x${regs1.get(n)!.toString(16)}`];
    const r = ptview(['diff', '--raw', raw1, '--raw', raw2, '--base', '0', '--arch', 'x86_64', ...reg('cr0'), ...reg('cr3'), ...reg('cr4'), ...reg('efer'), ...PAT,
      '--new-reg', 'CR3=0x211006', '--json']);
    assert.equal(r.code, 0, r.err);
    checkChanges(r.out.trim().split('\n').map((l) => JSON.parse(l)), 'raw images');
  });

  it('the second stop is what QEMU translates: the new mapping, the moved PA, the removed page', async () => {
    assert.equal(parseGva2gpa(await run.hmp('gva2gpa 0xffffffff80008000')), 0x108000n);
    assert.equal(parseGva2gpa(await run.hmp('gva2gpa 0xffffffff80007000')), 0x107000n);
    assert.doesNotMatch(await run.hmp('gva2gpa 0x12d000'), /gpa:/);
    const regs = parseInfoRegisters(await run.hmp('info registers'));
    assert.equal(regs.get('cr3'), 0x211006n);
  });

  it('--snapshot (saved live through the gdbstub) against the live second stop (--gdb): the same changes', () => {
    const r = ptview(['diff', '--snapshot', snap1, '--gdb', gdb, ...PAT, '--json']);
    assert.equal(r.code, 0, r.err);
    checkChanges(r.out.trim().split('\n').map((l) => JSON.parse(l)), 'snapshot vs live');
  });

  it('text: one line per change with the maintenance "required", the split and the root switch', () => {
    const r = ptview(['diff', '--core', core1, '--core', core2, '--reg', `EFER=${efer}`]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^root cr3: 0x200000 \(mode 4-level, PCID 5\) -> 0x211000 \(mode 4-level, PCID 6\)/m);
    assert.match(r.out, /^- 0x000000000012d000-0x000000000012e000 +4K/m);
    assert.match(r.out, /^\* 0x0000000000a00000-0x0000000000c00000 +2M PD\[5\] @ 0x202028: .* split \(table - -> 0x210000\)/m);
    assert.match(r.out, /TLB maintenance required \(1 translation\):\n +invlpg \[0xffffffff80006000\]/);
    assert.match(r.out, /no TLB maintenance required/);
    assert.doesNotMatch(r.out, /\bdone\b/);
  });

  it('the same core twice: no changes; a snapshot walks like its source', () => {
    const same = ptview(['diff', '--core', core2, '--core', core2, '--reg', `EFER=${efer}`, '--json']);
    assert.equal(same.code, 0, same.err);
    assert.equal(same.out, '');
    const fromSnap = ptview(['dump', '--leaves', '--json', '--snapshot', snap1]);
    const fromCore = ptview(['dump', '--leaves', '--json', '--core', core1, '--reg', `EFER=${efer}`]);
    assert.equal(fromSnap.code, 0, fromSnap.err);
    assert.equal(fromSnap.out, fromCore.out);
  });

  it('errors: one source, three sources, a file that is not a snapshot', () => {
    const one = ptview(['diff', '--core', core1]);
    assert.equal(one.code, 2);
    assert.match(one.err, /compares two walks/);
    const three = ptview(['diff', '--core', core1, '--core', core2, '--snapshot', snap1]);
    assert.equal(three.code, 2);
    const bad = ptview(['diff', '--snapshot', core1, '--core', core2]);
    assert.equal(bad.code, 3);
    assert.match(bad.err, /not a ptview snapshot/);
  });
});
