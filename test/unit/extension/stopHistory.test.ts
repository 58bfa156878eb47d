// The stop bookkeeping of the Changes views: stop numbers per session, previous / current per
// CPU, a refresh or thread switch at the same stop is no new stop, a pinned baseline stays until
// unpinned, and a CPU first seen with no focused thread keeps its history once one is focused.
import assert from 'node:assert/strict';
import { StopHistory } from '../../../src/extension/stopHistory';

const base = (h: Parameters<typeof StopHistory.baseline>[0]) => {
  const b = StopHistory.baseline(h);
  return b && `${b.pinned ? 'pinned ' : ''}#${b.base.stop} ${b.base.snap}`;
};

describe('stop history of the Changes views', () => {
  it('numbers stops per session and compares each with the previous one', () => {
    const h = new StopHistory<string, string>(() => 'none');
    let c = h.record('s1', 1, 'a');
    assert.equal(c.current!.stop, 1);
    assert.equal(base(c), undefined, 'the first stop has nothing to compare with');
    h.ran('s1');
    c = h.record('s1', 1, 'b');
    assert.equal(base(c), '#1 a');
    assert.equal(c.current!.stop, 2);
    // A refresh of the same stop replaces the current snapshot, not the baseline.
    c = h.record('s1', 1, 'b2');
    assert.deepEqual([c.current!.stop, c.current!.snap, base(c)], [2, 'b2', '#1 a']);
    // Another session has its own numbers.
    assert.equal(h.record('s2', 1, 'x').current!.stop, 1);
    h.ran('s1');
    assert.equal(base(h.record('s1', 1, 'c')), '#2 b2');
  });

  it('a pinned stop is the baseline until unpinned', () => {
    const h = new StopHistory<string, string>(() => 'none');
    h.record('s', 1, 'a');
    const c = h.cpu('s', 1)!;
    c.pinned = c.current;
    assert.equal(base(c), 'pinned #1 a');
    for (const snap of ['b', 'c', 'd']) {
      h.ran('s');
      h.record('s', 1, snap);
      assert.equal(base(c), 'pinned #1 a');
    }
    c.pinned = undefined;
    assert.equal(base(c), '#3 c');
  });

  it('per CPU: another thread at the same stop has its own history; an unfocused first stop becomes the focused thread\'s', () => {
    const h = new StopHistory<string, string>(() => 'none');
    // Stop 1 read before VS Code focused a thread, stop 2 with thread 1 focused: one history.
    h.record('s', undefined, 'cpu0@1');
    h.ran('s');
    const c0 = h.record('s', 1, 'cpu0@2');
    assert.equal(base(c0), '#1 cpu0@1');
    // Thread 2 selected at the same stop: a CPU with no earlier stop; not a new stop.
    const c1 = h.record('s', 2, 'cpu1@2');
    assert.equal(c1.current!.stop, 2);
    assert.equal(base(c1), undefined);
    assert.equal(h.cpu('s', 1)!.current!.snap, 'cpu0@2', 'thread 1 keeps its stop');
    // No focused thread: the CPU of the last snapshot.
    assert.equal(h.cpu('s', undefined)!.current!.snap, 'cpu1@2');
    h.ran('s');
    assert.equal(base(h.record('s', 2, 'cpu1@3')), '#2 cpu1@2');
  });

  it('knows the baseline of the next snapshot before it is taken', () => {
    const h = new StopHistory<string, string>(() => 'none');
    assert.equal(h.upcoming('s', 1), undefined, 'no session yet');
    assert.equal(h.isNewStop('s'), true);
    h.record('s', 1, 'a');
    assert.equal(h.isNewStop('s'), false);
    assert.equal(h.upcoming('s', 1), undefined, 'a refresh of stop 1: still nothing to compare with');
    h.ran('s');
    assert.equal(h.upcoming('s', 1)?.base.snap, 'a', 'the next stop compares with stop 1');
    h.record('s', 1, 'b');
    assert.equal(h.upcoming('s', 1)?.base.snap, 'a', 'a refresh of stop 2 keeps stop 1 as the baseline');
    const c = h.cpu('s', 1)!;
    c.pinned = c.current;
    h.ran('s');
    assert.deepEqual([h.upcoming('s', 1)?.base.snap, h.upcoming('s', 1)?.pinned], ['b', true]);
  });

  it('forgets an ended session', () => {
    const h = new StopHistory<string, number>(() => 0);
    h.record('s', 1, 'a');
    h.forget('s');
    assert.equal(h.cpu('s', 1), undefined);
    assert.equal(h.record('s', 1, 'b').current!.stop, 1, 'a new session with the same id starts over');
  });
});
