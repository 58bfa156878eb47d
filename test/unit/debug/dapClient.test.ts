// DapClient against a real adapter process (@vscode/debugadapter's DebugSession, tinyAdapter.ts):
// answers, events in order, error responses with the adapter's own text, timeouts, reverse
// requests refused, and the adapter's exit failing what is in flight at once (not at the timeout).
import assert from 'node:assert/strict';
import type { DebugProtocol } from '@vscode/debugprotocol';
import path from 'node:path';
import { DapClient, DapError } from '../../../src/debug/dapClient';
import { classifyError } from '../../../src/debug/transport';

const ADAPTER = path.join(__dirname, 'tinyAdapter.js');
// Long enough that a request failed by the adapter's exit can only have been failed by the exit.
const launch = (timeoutMs = 600000) => DapClient.launch(process.execPath, [ADAPTER], { timeoutMs });
const evaluate = (c: DapClient, expression: string, timeoutMs?: number) => c.request('evaluate', { expression, context: 'repl' }, { timeoutMs });
const isDapError = (kind: DapError['kind'], message: RegExp) => (e: unknown) => {
  assert.ok(e instanceof DapError, String(e));
  assert.equal(e.kind, kind, e.message);
  assert.match(e.message, message);
  return true;
};

describe('DapClient (a real DebugSession adapter process)', function () {
  let c: DapClient | undefined;
  afterEach(() => c?.kill());

  it('resolves with the response; events arrive in the order sent, the output before the answer after it', async () => {
    c = launch();
    const seen: string[] = [];
    c.onEvent((e) => seen.push(e.event === 'output' ? `output ${(e as DebugProtocol.OutputEvent).body.output.trim()}` : e.event));
    const init = await c.request('initialize', { adapterID: 'tiny', clientID: 'ptview', pathFormat: 'path' });
    assert.equal(init.body.supportsReadMemoryRequest, true);
    assert.equal((await evaluate(c, 'echo hello')).body.result, 'hello');
    assert.deepEqual(seen, ['initialized', 'output hello']);
    const sub = c.onEvent(() => seen.push('late'));
    sub.dispose();
    await evaluate(c, 'echo again');
    assert.deepEqual(seen, ['initialized', 'output hello', 'output again']);
  });

  it("an error response rejects with the adapter's own message; the session goes on", async () => {
    c = launch();
    await assert.rejects(evaluate(c, 'fail'), isDapError('error-response', /^No symbol "cr9" in current context\.$/));
    assert.equal((await evaluate(c, 'echo still')).body.result, 'still');
  });

  it('a request with no answer times out; the session goes on', async () => {
    c = launch();
    await assert.rejects(evaluate(c, 'silent', 50), isDapError('timeout', /^'evaluate' timed out: the debug adapter sent no answer within 50 ms$/));
    assert.equal((await evaluate(c, 'echo still')).body.result, 'still');
    assert.equal(c.ended, false);
  });

  it('the adapter exiting fails every request in flight with "session ended", its exit code and stderr; later ones at once', async () => {
    c = launch();
    const unanswered = evaluate(c, 'silent');
    const exiting = evaluate(c, 'exit');
    const ended = /^session ended: the debug adapter exited with code 3 \(stderr: tiny adapter: exiting on request\)$/;
    await assert.rejects(unanswered, isDapError('ended', ended));
    await assert.rejects(exiting, isDapError('ended', ended));
    assert.equal(c.ended, true);
    await assert.rejects(c.request('threads'), isDapError('ended', ended));
    // What src/debug makes of it: the session ended (MemoryReadError reason 'session-ended').
    const later = await evaluate(c, 'echo x').then(() => new Error('answered'), (e: Error) => e);
    assert.equal(classifyError(later.message), 'session-ended', later.message);
  });

  it('kill() fails what is in flight and ends the process', async () => {
    c = launch();
    const unanswered = evaluate(c, 'silent');
    c.kill();
    await assert.rejects(unanswered, isDapError('ended', /^session ended: the debug adapter was stopped$/));
  });

  it("a reverse request from the adapter gets an error response: ptview serves none", async () => {
    c = launch();
    assert.equal((await evaluate(c, 'reverse')).body.result, "false ptview does not serve the 'runInTerminal' request");
  });

  it('an answered request leaves no timer behind (nothing keeps the process alive for the timeout)', async () => {
    c = launch();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    await evaluate(c, 'echo warm');
    const before = timers();
    for (let i = 0; i < 5; i++) await evaluate(c, `echo ${i}`);
    assert.equal(timers(), before);
  });
});
