// A real debug adapter for DapClient's tests: @vscode/debugadapter's DebugSession in a process of
// its own, on stdin/stdout as a client starts one. The evaluate expression picks the behaviour
// under test: `echo WORD` (an output event, then the answer), `fail` (an error response),
// `silent` (no answer), `exit` (the process ends with code 3), `reverse` (asks the client to
// runInTerminal and answers with what the client said).
import { DebugSession, InitializedEvent, OutputEvent } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';

class TinyAdapter extends DebugSession {
  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = { supportsReadMemoryRequest: true };
    this.sendResponse(response);
    this.sendEvent(new InitializedEvent());
  }

  protected override evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): void {
    const [cmd, word] = args.expression.split(' ');
    const answer = (result: string) => {
      response.body = { result, variablesReference: 0 };
      this.sendResponse(response);
    };
    if (cmd === 'echo') {
      this.sendEvent(new OutputEvent(`${word}\n`, 'console'));
      answer(word);
    } else if (cmd === 'fail') {
      this.sendErrorResponse(response, { id: 1, format: 'No symbol "cr9" in current context.' });
    } else if (cmd === 'exit') {
      process.stderr.write('tiny adapter: exiting on request\n');
      process.exit(3);
    } else if (cmd === 'reverse') {
      this.sendRequest('runInTerminal', { kind: 'integrated', cwd: '/', args: ['true'] }, 10000, (r) => answer(`${r.success} ${r.message}`));
    } else if (cmd !== 'silent') {
      this.sendErrorResponse(response, { id: 2, format: `unknown expression ${args.expression}` });
    }
  }
}

DebugSession.run(TinyAdapter);
