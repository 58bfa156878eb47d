// The pure parts of Break When Translation Changes: which entries and VAs are watched (hand-built
// x86-64 tables), what a change of one says, the backends' command text and answers (in-memory
// command runners and DAP channels), and which backend a session gets.
import assert from 'node:assert/strict';
import { spaceFromRegisters } from '../../../src/core/formats';
import { PageTableSession } from '../../../src/core/ops/session';
import {
  CommandRunner, DapWatchBackend, GdbWatchBackend, LldbWatchBackend, WatchError, changeText, changedEntries, chooseBackend, describeEntry,
  hardwareLimit, planWatch, watchSpecs,
} from '../../../src/debug/watchpoints';
import { SparseMemory } from '../../support/sparseMemory';

const P = 1n, RW = 2n, US = 4n, PS = 0x80n, G = 0x100n, NX = 1n << 63n;
const DM = 0xffff888000000000n;

// PML4 0x1000 → PDPT 0x2000 → PD 0x3000 → PT 0x4000 (user pages at 0x400000..); PML4[273] →
// PDPT 0x5000: a 1 GiB RW NX direct map of PA 0 at 0xffff888000000000 (Linux's default).
function tables(directMap = true): SparseMemory {
  const m = new SparseMemory();
  m.write64(0x1000, 0x2000n | P | RW | US);
  m.write64(0x2000, 0x3000n | P | RW | US);
  m.write64(0x3010, 0x4000n | P | RW | US);
  for (let i = 0; i < 4; i++) m.write64(0x4000 + 8 * i, BigInt(0x400000 + i * 4096) | P | RW | US | NX);
  if (directMap) {
    m.write64(0x1000 + 8 * 273, 0x5000n | P | RW);
    m.write64(0x5000, P | RW | PS | G | NX);
  }
  return m;
}
const regs = new Map([['cr0', 0x80010011n], ['cr3', 0x1000n], ['cr4', 0x20n | 0x80n], ['efer', 0xd00n]]);
const session = (m: SparseMemory) => new PageTableSession(spaceFromRegisters('x86_64', regs), m);

/** A command runner that answers from a table of regexps and records what it ran. */
function runner(answers: Array<[RegExp, string | Error]>): CommandRunner & { ran: string[] } {
  const ran: string[] = [];
  const answer = (cmd: string) => {
    ran.push(cmd);
    const a = answers.find(([re]) => re.test(cmd));
    if (!a) return '';
    if (a[1] instanceof Error) throw a[1];
    return a[1];
  };
  return {
    ran,
    run: async (cmd) => answer(cmd),
    quiet: async (cmds) => void (typeof cmds === 'string' ? [cmds] : cmds).forEach(answer),
  };
}

describe('watchpoints: planning', () => {
  it('watches every level of the walk through the direct map, and remembers its offset', async () => {
    const plan = await planWatch(session(tables()), 0x401000n);
    assert.deepEqual(plan.entries.map((e) => [e.levelName, e.index, e.entryPa, e.raw]), [
      ['PML4', 0, 0x1000, 0x2007n], ['PDPT', 0, 0x2000, 0x3007n], ['PD', 2, 0x3010, 0x4007n], ['PT', 1, 0x4008, 0x401007n | NX],
    ]);
    assert.deepEqual(plan.entries.map((e) => e.vas), [[DM + 0x1000n], [DM + 0x2000n], [DM + 0x3010n], [DM + 0x4008n]]);
    assert.equal(plan.directMapOffset, DM);
    assert.deepEqual(watchSpecs(plan).map((s) => s.bytes), [8, 8, 8, 8]);
  });

  it('watches down to the entry that is not present yet (a map there changes the translation)', async () => {
    const plan = await planWatch(session(tables()), 0x405000n);
    assert.deepEqual(plan.entries.map((e) => `${e.levelName}[${e.index}]=${e.raw}`), ['PML4[0]=8199', 'PDPT[0]=12295', 'PD[2]=16391', 'PT[5]=0']);
  });

  it('without any writable mapping of the tables (a KPTI user stop) needs a known direct-map offset, and says so', async () => {
    const s = session(tables(false));
    await assert.rejects(planWatch(s, 0x401000n), (e: Error) => e instanceof WatchError && /not writable through any mapping.*KPTI.*ptview\.directMapOffset/.test(e.message));
    const plan = await planWatch(s, 0x401000n, { directMapOffset: DM });
    assert.deepEqual(plan.entries.map((e) => e.vas), [[DM + 0x1000n], [DM + 0x2000n], [DM + 0x3010n], [DM + 0x4008n]]);
    assert.match(plan.how, /direct map at 0xffff888000000000/);
  });

  it('refuses more watchpoints than the cap, naming the way out', async () => {
    await assert.rejects(planWatch(session(tables()), 0x401000n, { maxWatchpoints: 3 }), /more than 3 watchpoints: set ptview\.directMapOffset/);
  });

  it('finds the entry that changed, before and after, decoded', async () => {
    const m = tables();
    const plan = await planWatch(session(m), 0x401000n);
    assert.deepEqual(await changedEntries(m, plan.entries), []);
    m.write64(0x4008, 0x401000n | P | US | NX); // loses W
    const changes = await changedEntries(m, plan.entries);
    assert.equal(changes.length, 1);
    assert.equal(changeText(plan.format, changes[0]), 'PT[1]: 0x8000000000401007 (leaf → 0x401000 USR RW NX WB) → 0x8000000000401005 (leaf → 0x401000 USR ro NX WB)');
    assert.equal(describeEntry(plan.format, 2, 0x400083n), 'leaf → 0x400000 RW PSE x WB');
    assert.equal(describeEntry(plan.format, 3, 0n), 'not present');
    assert.equal(describeEntry(plan.format, 2, 0x4007n), 'table → PT @ 0x4000');
  });
});

describe('watchpoints: backends', () => {
  const spec = (va: bigint) => ({ va, bytes: 8 as const });

  it('GDB: watch -l per VA, ids from its answer, delete on removal', async () => {
    let n = 1;
    const r = runner([[/^watch -l/, ''], [/^delete/, '']]);
    r.run = async (cmd) => {
      r.ran.push(cmd);
      return `Hardware watchpoint ${++n}: -location *(unsigned long long *)0x1\n`;
    };
    const b = new GdbWatchBackend(r);
    const armed = await b.arm([spec(0xffff888000001000n), spec(0xffff888000002000n)]);
    assert.deepEqual(armed.map((a) => a.id), ['2', '3']);
    assert.deepEqual(r.ran, ['watch -l *(unsigned long long *)0xffff888000001000', 'watch -l *(unsigned long long *)0xffff888000002000']);
    await b.disarm(['2', '3']);
    assert.equal(r.ran.at(-1), 'delete 2 3');
  });

  it('GDB: a software watchpoint or an error midway deletes what was set and says why', async () => {
    const soft = runner([[/0x2000/, 'Watchpoint 5: -location *(unsigned long long *)0x2000'], [/^watch/, 'Hardware watchpoint 4: x'], [/^delete/, '']]);
    await assert.rejects(new GdbWatchBackend(soft).arm([spec(0x1000n), spec(0x2000n)]), /software watchpoint/);
    assert.equal(soft.ran.at(-1), 'delete 4 5');
    const err = runner([[/0x2000/, new Error('Cannot watch constant value')], [/^watch/, 'Hardware watchpoint 4: x'], [/^delete/, '']]);
    await assert.rejects(new GdbWatchBackend(err).arm([spec(0x1000n), spec(0x2000n)]), (e: Error) => e instanceof WatchError && /Cannot watch/.test(e.message));
    assert.equal(err.ran.at(-1), 'delete 4');
  });

  it('GDB: the hardware limit refuses before setting anything; alive() reads info watchpoints', async () => {
    const r = runner([[/^info watchpoints/, 'Num     Type           Disp Enb Address            What\n2       hw watchpoint  keep y                      -location *(unsigned long long *)0x1\n4       acc watchpoint keep y   x\n']]);
    const b = new GdbWatchBackend(r, hardwareLimit('x86_64', 'kvm support: enabled\n'));
    await assert.rejects(b.arm([1n, 2n, 3n, 4n, 5n].map(spec)), /5 watchpoints needed, but QEMU under KVM uses the x86 debug registers DR0-DR3, which allows 4/);
    assert.deepEqual(r.ran, []);
    assert.deepEqual(await b.alive(['2', '3', '4']), new Set(['2', '4']));
    assert.equal(hardwareLimit('x86_64', 'kvm support: disabled'), undefined);
    assert.equal(hardwareLimit('x86_64', undefined), undefined);
  });

  it('LLDB: watchpoint set expression, delete by id', async () => {
    const r = runner([[/^watchpoint set/, 'Watchpoint created: Watchpoint 7: addr = 0x1000 size = 8 state = enabled type = w'], [/^watchpoint delete/, '']]);
    const b = new LldbWatchBackend(r);
    assert.deepEqual((await b.arm([spec(0x1000n)])).map((a) => a.id), ['7']);
    assert.equal(r.ran[0], 'watchpoint set expression -w write -s 8 -- 0x1000');
    await b.disarm(['7']);
    assert.equal(r.ran.at(-1), 'watchpoint delete 7');
  });

  it('DAP: sends the user\'s data breakpoints with ptview\'s, and keeps them on removal', async () => {
    const sent: unknown[] = [];
    const user = [{ dataId: 'counter', accessType: 'write' }];
    const channel = {
      async request(command: string, args: any) {
        if (command === 'dataBreakpointInfo') return { dataId: `id:${args.name}`, accessTypes: ['write'] };
        sent.push(args);
        return { breakpoints: args.breakpoints.map(() => ({ verified: true })) };
      },
    };
    const b = new DapWatchBackend(channel, () => user);
    const armed = await b.arm([spec(0x1000n), spec(0x2000n)]);
    assert.deepEqual(sent.at(-1), { breakpoints: [user[0], { dataId: 'id:*(long*)0x1000', accessType: 'write' }, { dataId: 'id:*(long*)0x2000', accessType: 'write' }] });
    assert.ok(b.isOwn([{ dataId: 'id:*(long*)0x1000' }]));
    assert.ok(!b.isOwn(user));
    await b.disarm([armed[0].id]);
    assert.deepEqual(sent.at(-1), { breakpoints: [user[0], { dataId: 'id:*(long*)0x2000', accessType: 'write' }] });
  });

  it('DAP: an unverified breakpoint takes ptview\'s new ones back out and says why', async () => {
    const sent: any[] = [];
    const channel = {
      async request(command: string, args: any) {
        if (command === 'dataBreakpointInfo') return { dataId: args.name };
        sent.push(args);
        return { breakpoints: args.breakpoints.map((_: unknown, i: number) => ({ verified: i === 0, message: 'HW breakpoint limit reached' })) };
      },
    };
    const b = new DapWatchBackend(channel, () => []);
    await assert.rejects(b.arm([spec(0x1000n), spec(0x2000n)]), /did not accept the data breakpoint on 0x2000: HW breakpoint limit reached/);
    assert.deepEqual(sent.at(-1), { breakpoints: [] });
  });

  it('chooses the command channel, else data breakpoints, else says what is missing', () => {
    const channel = { request: async () => undefined };
    const base = { channel, userDataBreakpoints: () => [], adapter: 'the X adapter' };
    assert.ok(chooseBackend({ ...base, commands: { debugger: 'gdb', runner: runner([]) }, supportsDataBreakpoints: true }) instanceof GdbWatchBackend);
    assert.ok(chooseBackend({ ...base, commands: { debugger: 'lldb', runner: runner([]) }, supportsDataBreakpoints: false }) instanceof LldbWatchBackend);
    assert.ok(chooseBackend({ ...base, supportsDataBreakpoints: true }) instanceof DapWatchBackend);
    assert.throws(() => chooseBackend({ ...base, supportsDataBreakpoints: false }), /the X adapter has neither data breakpoints \(supportsDataBreakpoints\) nor a debugger command channel/);
  });
});
