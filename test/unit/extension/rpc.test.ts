// The map's request/response correlation (src/extension/rpc.ts): ids, answers in any order,
// failures as errors, stale and unknown answers ignored, and the host side answering every
// request exactly once whether its handler returns, throws or rejects.
import assert from 'node:assert/strict';
import { RequestEnvelope, RequestError, Requester, ResponseEnvelope, answer, isRequest, isResponse } from '../../../src/extension/rpc';

type Req = { type: 'trace'; va: string } | { type: 'export' };

describe('webview request/response correlation', () => {
  it('each request gets its own id and its own answer, whatever the order answers come in', async () => {
    const sent: RequestEnvelope<Req>[] = [];
    const r = new Requester<Req>((m) => sent.push(m));
    const a = r.request<string>({ type: 'trace', va: '0x1000' });
    const b = r.request<string>({ type: 'trace', va: '0x2000' });
    assert.deepEqual(sent.map((m) => m.id), [1, 2]);
    assert.equal(r.outstanding, 2);
    // The host answers the second first.
    for (const m of [...sent].reverse()) {
      const res = await answer(m, (q) => (q.type === 'trace' ? `trace of ${q.va}` : 'x'));
      assert.equal(res.id, m.id);
      assert.ok(r.settle(res));
    }
    assert.equal(await a, 'trace of 0x1000');
    assert.equal(await b, 'trace of 0x2000');
    assert.equal(r.outstanding, 0);
  });

  it('a failed request answers with its error (thrown or rejected), which rejects the matching promise only', async () => {
    const sent: RequestEnvelope<Req>[] = [];
    const r = new Requester<Req>((m) => sent.push(m));
    const bad = r.request({ type: 'trace', va: '0xdead' });
    const good = r.request({ type: 'export' });
    const handler = async (q: Req) => {
      if (q.type === 'trace') throw new Error('the target is running: pause it to read its page tables');
      return null;
    };
    const res = await Promise.all(sent.map((m) => answer(m, handler)));
    assert.deepEqual(res[0], { type: 'response', id: 1, ok: false, error: 'the target is running: pause it to read its page tables' });
    assert.deepEqual(res[1], { type: 'response', id: 2, ok: true, result: null }, 'undefined/null results still answer');
    res.forEach((m) => r.settle(m));
    await assert.rejects(bad, (e: Error) => e instanceof RequestError && /target is running/.test(e.message));
    assert.equal(await good, null);
    const rejected = await answer({ type: 'request', id: 9, request: { type: 'export' } as Req }, () => Promise.reject('plain string'));
    assert.deepEqual(rejected, { type: 'response', id: 9, ok: false, error: 'plain string' });
  });

  it('an answer to no pending request (stale, duplicate, unknown id) is ignored', async () => {
    const r = new Requester<Req>(() => undefined);
    const p = r.request<number>({ type: 'export' });
    const ok: ResponseEnvelope = { type: 'response', id: 1, ok: true, result: 7 };
    assert.equal(r.settle({ type: 'response', id: 42, ok: true, result: 0 }), false);
    assert.equal(r.settle(ok), true);
    assert.equal(r.settle(ok), false, 'a second answer for the same id');
    assert.equal(await p, 7);
  });

  it('a send that throws rejects at once; failAll rejects what is pending', async () => {
    const broken = new Requester<Req>(() => {
      throw new Error('webview disposed');
    });
    await assert.rejects(broken.request({ type: 'export' }), /webview disposed/);
    assert.equal(broken.outstanding, 0);
    const r = new Requester<Req>(() => undefined);
    const p = r.request({ type: 'export' });
    r.failAll('the map was closed');
    await assert.rejects(p, /the map was closed/);
  });

  it('message guards tell requests and responses from the other messages', () => {
    assert.ok(isResponse({ type: 'response', id: 1, ok: true, result: 1 }));
    assert.ok(!isResponse({ type: 'data', id: 1 }));
    assert.ok(!isResponse({ type: 'response' }));
    assert.ok(isRequest({ type: 'request', id: 3, request: {} }));
    assert.ok(!isRequest({ type: 'ready' }));
    assert.ok(!isRequest(null));
  });
});
