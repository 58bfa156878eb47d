// Runs raw debugger commands for one session in its dialect and returns their text.
import { DialectCommands } from './dialects';
import { Transport } from './transport';

export class DebuggerConsole {
  /** GDB has Python (cdt's silent form works); set by detection. */
  python = false;

  constructor(
    readonly transport: Transport,
    readonly dialect: DialectCommands,
  ) {}

  /** Whether this session can run raw commands and read their text back. */
  get canRun(): boolean {
    const probe = this.dialect.raw('show version');
    return probe !== undefined && (probe.output !== 'events' || this.transport.canCaptureOutput);
  }

  /** Runs a command and returns its output text. */
  async run(cmd: string, signal?: AbortSignal): Promise<string> {
    const req = this.dialect.raw(cmd);
    if (!req) throw new Error(`the ${this.dialect.dialect} dialect has no raw command channel`);
    if (req.output === 'events') {
      if (!this.transport.canCaptureOutput) throw new Error(`the ${this.dialect.dialect} dialect returns command output only as events, and no event observer was given`);
      const r = await this.transport.requestCapturingOutput(req.command, req.args, signal);
      return r.output + resultText(r.body);
    }
    return resultText(await this.transport.request(req.command, req.args, signal));
  }

  /** Runs a command whose output nobody needs, without Debug Console noise where possible. */
  async quiet(cmds: string | readonly string[], signal?: AbortSignal): Promise<void> {
    const list = typeof cmds === 'string' ? [cmds] : cmds;
    const batch = this.dialect.rawBatch?.(list, { python: this.python });
    if (batch) {
      await this.transport.request(batch.command, batch.args, signal);
      return;
    }
    for (const cmd of list) {
      const req = this.dialect.raw(cmd, { silent: true, python: this.python });
      if (!req) throw new Error(`the ${this.dialect.dialect} dialect has no raw command channel`);
      // Output is not needed; events still go to the console for dialects without a silent form.
      await this.transport.request(req.command, req.args, signal);
    }
  }
}

function resultText(body: any): string {
  const r = body?.result;
  return typeof r === 'string' && r.trim() !== '' ? r : '';
}
