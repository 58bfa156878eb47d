import assert from 'node:assert/strict';
import { LiveAccessError } from '../../../src/debug/api';
import { State, TargetController, stopFigures, stopFiguresText } from '../../../src/extension/controller';
import { fromAdapter, fromClient } from '../../../src/extension/tracking';
import { channel, fakeOpener } from './fakeTarget';

describe('extension target controller', () => {
  function setup() {
    const opener = fakeOpener();
    const c = new TargetController(opener.open, () => ({ strategy: 'monitor-xp' }));
    const states: string[] = [];
    c.onDidChange((s: State) => states.push(s.kind));
    return { opener, c, states };
  }

  it('has no state without a session and opens one target per stop, lazily', async () => {
    const { opener, c } = setup();
    assert.equal(c.state().kind, 'none');
    await assert.rejects(c.ready(), (e: LiveAccessError) => e.kind === 'session-ended');
    const obs = c.add('s1', 'guest', channel);
    c.handle('s1', fromAdapter({ type: 'response', command: 'initialize', success: true, body: { supportsReadMemoryRequest: true } })!);
    assert.deepEqual(obs.capabilities, { supportsReadMemoryRequest: true });
    c.handle('s1', fromAdapter({ type: 'event', event: 'stopped', body: { reason: 'breakpoint' } })!);
    assert.equal(c.state().kind, 'stopped');
    assert.equal(opener.calls.length, 0);
    const [a, b] = await Promise.all([c.ready(), c.ready()]);
    assert.equal(a, b);
    assert.equal(opener.calls.length, 1, 'concurrent requests share one open');
    assert.equal(opener.calls[0].options?.strategy, 'monitor-xp');
    assert.equal(opener.calls[0].observer, obs, 'the observer with the captured capabilities is passed on');
    assert.equal(c.state().kind, 'ready');
    assert.equal(a.space.roots[0].name, 'cr3');
  });

  it('a listener that asks for the target while it opens joins that open (no re-entrant opens)', async () => {
    const { opener, c } = setup();
    c.add('s1', 'guest', channel);
    const asked: Promise<unknown>[] = [];
    c.onDidChange((s) => {
      if (s.kind === 'stopped' || s.kind === 'loading') asked.push(c.ready().catch(() => undefined));
    });
    c.handle('s1', { kind: 'stopped' });
    await c.ready();
    await Promise.all(asked);
    assert.equal(opener.calls.length, 1);
  });

  it('disposes the target when the target runs, never reads while running, and reopens at the next stop', async () => {
    const { opener, c } = setup();
    c.add('s1', 'guest', channel);
    c.handle('s1', { kind: 'stopped' });
    const first = await c.ready();
    c.handle('s1', fromClient({ type: 'request', command: 'continue', seq: 1 })!);
    await new Promise((r) => setImmediate(r));
    assert.equal(opener.made[0].disposed, 1);
    assert.equal(c.state().kind, 'running');
    await assert.rejects(c.ready(), (e: LiveAccessError) => e.kind === 'running');
    assert.equal(opener.calls.length, 1);
    c.handle('s1', { kind: 'stopped' });
    const second = await c.ready();
    assert.notEqual(second.generation, first.generation);
    assert.equal(opener.calls.length, 2);
  });

  it('a run request the adapter refuses leaves the target stopped and readable; one it accepted does not', async () => {
    const { opener, c } = setup();
    c.add('s1', 'core', channel);
    c.handle('s1', { kind: 'stopped' });
    await c.ready();
    c.handle('s1', fromClient({ type: 'request', command: 'continue', seq: 1 })!);
    assert.equal(c.state().kind, 'running');
    c.handle('s1', fromAdapter({ type: 'response', command: 'continue', success: false, request_seq: 1 })!);
    assert.notEqual(c.state().kind, 'running');
    await c.ready();
    assert.equal(opener.calls.length, 2);
    // Accepted and reported running by the adapter: a later refusal (of another request) changes nothing.
    c.handle('s1', fromClient({ type: 'request', command: 'next', seq: 2 })!);
    c.handle('s1', fromAdapter({ type: 'event', event: 'continued' })!);
    c.handle('s1', fromAdapter({ type: 'response', command: 'stepIn', success: false, request_seq: 3 })!);
    assert.equal(c.state().kind, 'running');
  });

  it('opens a stop for the thread its stopped event names unless the user focused one; the selection that follows the stop adopts it', async () => {
    const opener = fakeOpener();
    let thread: number | undefined;
    const c = new TargetController(opener.open, () => ({ threadId: thread }));
    c.add('s1', 'guest', channel);
    const ev = fromAdapter({ type: 'event', event: 'stopped', body: { reason: 'signal', threadId: 3, allThreadsStopped: true } })!;
    assert.deepEqual(ev, { kind: 'stopped', threadId: 3 });
    c.handle('s1', ev);
    await c.ready();
    assert.equal(opener.calls[0].options?.threadId, 3);
    c.selectThread('s1', 3); // VS Code focuses the stopped thread: the same target
    await c.ready();
    assert.equal(opener.calls.length, 1);
    c.handle('s1', fromClient({ type: 'request', command: 'continue', seq: 1 })!);
    thread = 2; // focused by the user: wins over the event's
    c.handle('s1', ev);
    await c.ready();
    assert.equal(opener.calls[1].options?.threadId, 2);
    c.handle('s1', fromClient({ type: 'request', command: 'continue', seq: 2 })!);
    thread = undefined;
    c.handle('s1', fromAdapter({ type: 'event', event: 'stopped', body: { reason: 'pause' } })!); // no thread named
    await c.ready();
    assert.equal(opener.calls[2].options?.threadId, undefined);
  });

  it('opens the target again when the user selects another thread (vCPU) of the stopped session, not for the same one', async () => {
    const opener = fakeOpener();
    let thread = 1;
    const c = new TargetController(opener.open, () => ({ threadId: thread }));
    c.add('s1', 'core', channel);
    c.selectThread('s1', 2); // before the first stop: nothing to do
    c.handle('s1', { kind: 'stopped' });
    c.selectThread('s1', 1); // nothing opened yet: the first read opens for the selected thread
    await c.ready();
    assert.equal(opener.calls.length, 1);
    c.selectThread('s1', 1);
    await c.ready();
    assert.equal(opener.calls.length, 1, 'same thread: the same target');
    thread = 2;
    c.selectThread('s1', 2);
    assert.equal(opener.made[0].disposed, 1);
    await c.ready();
    assert.equal(opener.calls.length, 2);
    assert.equal(opener.calls[1].options?.threadId, 2);
    c.handle('s1', fromClient({ type: 'request', command: 'continue', seq: 1 })!);
    c.selectThread('s1', 1); // running: nothing to reopen
    assert.equal(opener.calls.length, 2);
    // Opened before VS Code focused any thread (no thread in the options): the focus that follows
    // the stop adopts it; only a later, different selection opens again.
    thread = undefined as unknown as number;
    c.handle('s1', { kind: 'stopped' });
    await c.ready();
    assert.equal(opener.calls.length, 3);
    c.selectThread('s1', 1);
    await c.ready();
    assert.equal(opener.calls.length, 3);
    c.selectThread('s1', 2);
    await c.ready();
    assert.equal(opener.calls.length, 4);
  });

  it('times each stop from its stopped event: open, tree and map, less the adapter\'s share', async () => {
    const { c } = setup();
    c.add('s1', 'guest', channel);
    const before = Date.now();
    c.handle('s1', { kind: 'stopped' });
    const r = await c.ready();
    assert.ok(r.timing.stoppedAt >= before && r.timing.stoppedAt <= Date.now());
    assert.ok(r.timing.openMs >= 0 && r.timing.openMs <= Date.now() - before);
    r.timing.treeMs = 5;
    r.timing.map = { ranges: 10, audit: 20, rows: 3 };
    (r.target.stats as { adapterMs: number }).adapterMs = r.timing.openMs + 4;
    const f = stopFigures(r);
    assert.equal(f.ownMs, 5 + 33 - 4, 'open + tree + map - adapter');
    assert.match(stopFiguresText(f, f.stoppedAt + 120), /^stop: ptview's own work 34 ms beside the adapter's \d+ ms for \d+ requests .*map 33 ms \(ranges 10, audit 20, rows 3\).*; map drawn 120 ms after the stop$/);
    r.timing.map = { ranges: 10, audit: 0, rows: 3, fold: 4 };
    assert.match(stopFiguresText(stopFigures(r)), /map 13 ms \(ranges and audit 10, rows 3; fold 4\)/);
    r.timing.map = { ranges: 10, audit: 0, rows: 3, fold: 40, foldCpu: 9 };
    assert.match(stopFiguresText(stopFigures(r)), /map 13 ms \(ranges and audit 10, rows 3; fold 40 \(CPU 9\)\)/);
    // A new stop starts a new clock.
    c.handle('s1', { kind: 'running' });
    c.handle('s1', { kind: 'stopped' });
    const r2 = await c.ready();
    assert.notEqual(r2.timing, r.timing);
    assert.equal(r2.timing.map, undefined);
  });

  it('on memory writes and invalidated events keeps the target but drops every table read', async () => {
    const { opener, c } = setup();
    c.add('s1', 'guest', channel);
    c.handle('s1', { kind: 'stopped' });
    const a = await c.ready();
    await a.session.translate(0n);
    assert.ok(a.session.stats.tablesRead > 0);
    c.handle('s1', fromClient({ type: 'request', command: 'writeMemory', seq: 2 })!);
    const b = await c.ready();
    assert.equal(b.target, a.target);
    assert.notEqual(b.session, a.session);
    assert.equal(b.session.stats.tablesRead, 0);
    assert.equal(opener.made[0].invalidations, 1);
    c.handle('s1', fromAdapter({ type: 'event', event: 'invalidated', body: {} })!);
    assert.equal(opener.made[0].invalidations, 2);
  });

  it('turns "cannot read physical memory" into the no-memory state with the message, until refreshed', async () => {
    const { opener, c } = setup();
    c.add('s1', 'guest', channel);
    c.handle('s1', { kind: 'stopped' });
    opener.fail = new LiveAccessError('no-memory-access', 'readMemory only: no physical access');
    await assert.rejects(c.ready());
    const s = c.state();
    assert.equal(s.kind, 'no-memory');
    assert.equal(s.kind === 'no-memory' && s.message, 'readMemory only: no physical access');
    opener.fail = undefined;
    await assert.rejects(c.ready(), 'a failure sticks until Refresh');
    c.refresh();
    await c.ready();
    assert.equal(c.state().kind, 'ready');
  });

  it('asks nothing of a session before its first stop (a second session started with the view open)', async () => {
    const { opener, c, states } = setup();
    c.add('s1', 'guest', channel);
    assert.equal(c.state().kind, 'waiting');
    await assert.rejects(c.ready(), (e: LiveAccessError) => e.kind === 'running' && /not stopped yet/.test(e.message));
    c.handle('s1', { kind: 'running' });
    await assert.rejects(c.ready(), (e: LiveAccessError) => e.kind === 'running');
    assert.equal(opener.calls.length, 0, 'no open before the first stop');
    c.handle('s1', { kind: 'stopped' });
    await c.ready();
    assert.equal(opener.calls.length, 1);
    assert.deepEqual(states.slice(0, 2), ['waiting', 'running']);
  });

  it('a failure at one stop is not kept for the next stop', async () => {
    const { opener, c } = setup();
    c.add('s1', 'guest', channel);
    c.handle('s1', { kind: 'stopped' });
    opener.fail = new LiveAccessError('no-memory-access', "the monitor's 'info mtree -f' listed no RAM");
    await assert.rejects(c.ready());
    assert.equal(c.state().kind, 'no-memory');
    opener.fail = undefined;
    c.handle('s1', { kind: 'running' });
    c.handle('s1', { kind: 'stopped' });
    await c.ready();
    assert.equal(c.state().kind, 'ready');
  });

  it('discards a target that finished opening after the guest ran', async () => {
    const { opener, c } = setup();
    c.add('s1', 'guest', channel);
    c.handle('s1', { kind: 'stopped' });
    let release!: () => void;
    opener.gate = new Promise((r) => (release = r));
    const p = c.ready();
    c.handle('s1', { kind: 'running' });
    release();
    await assert.rejects(p, (e: LiveAccessError) => e.kind === 'running');
    assert.equal(opener.made[0].disposed, 1);
    assert.equal(c.state().kind, 'running');
  });

  it('follows the active session and forgets ended ones, disposing their targets', async () => {
    const { opener, c } = setup();
    c.add('s1', 'one', channel);
    c.add('s2', 'two', channel);
    assert.equal(c.activeSession?.name, 'one');
    c.setActive('s2');
    assert.equal(c.activeSession?.name, 'two');
    c.handle('s2', { kind: 'stopped' });
    await c.ready();
    c.handle('s2', fromAdapter({ type: 'event', event: 'terminated' })!);
    await new Promise((r) => setImmediate(r));
    assert.equal(opener.made[0].disposed, 1);
    assert.equal(c.activeSession?.name, 'one');
  });
});

describe('extension adapter events for the debug layer', () => {
  it('passes every adapter event to the listeners the debug layer registered on the observer', () => {
    const c = new TargetController(fakeOpener().open);
    const obs = c.add('s1', 'guest', channel) as { onEvent(l: (e: unknown) => void): { dispose(): void } };
    const seen: string[] = [];
    const sub = obs.onEvent((e: any) => seen.push(e.event));
    c.adapterEvent('s1', { type: 'event', seq: 1, event: 'output', body: { output: 'received: \"0\"' } } as any);
    c.adapterEvent('s2', { type: 'event', seq: 2, event: 'output' } as any);
    sub.dispose();
    c.adapterEvent('s1', { type: 'event', seq: 3, event: 'stopped' } as any);
    assert.deepEqual(seen, ['output']);
  });
});

describe('extension DAP message classification', () => {
  it('classifies run, write, stop and end messages and ignores the rest', () => {
    for (const c of ['continue', 'next', 'stepIn', 'stepOut', 'reverseContinue']) assert.deepEqual(fromClient({ type: 'request', command: c }), { kind: 'running', byRequest: true });
    for (const c of ['writeMemory', 'setVariable', 'setExpression']) assert.deepEqual(fromClient({ type: 'request', command: c }), { kind: 'invalidate' });
    assert.equal(fromClient({ type: 'request', command: 'readMemory' }), undefined);
    assert.equal(fromClient({ type: 'request', command: 'evaluate' }), undefined);
    assert.deepEqual(fromAdapter({ type: 'event', event: 'continued' }), { kind: 'running' });
    assert.deepEqual(fromAdapter({ type: 'event', event: 'memory' }), { kind: 'invalidate' });
    assert.deepEqual(fromAdapter({ type: 'event', event: 'exited' }), { kind: 'ended' });
    assert.equal(fromAdapter({ type: 'event', event: 'output' }), undefined);
    assert.equal(fromAdapter({ type: 'response', command: 'initialize', success: false }), undefined);
    assert.equal(fromAdapter(null), undefined);
    assert.deepEqual(fromAdapter({ type: 'response', command: 'continue', success: false }), { kind: 'runRefused' });
    assert.equal(fromAdapter({ type: 'response', command: 'continue', success: true }), undefined);
    assert.equal(fromAdapter({ type: 'response', command: 'readMemory', success: false }), undefined);
  });
});
