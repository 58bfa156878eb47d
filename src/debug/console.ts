// Runs raw debugger commands for one session in its dialect and returns their text.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LiveAccessError } from './api';
import { DialectCommands } from './dialects';
import { Transport } from './transport';

/**
 * A GDB `python` command running `code`. The code is sent hex-encoded: it needs quotes and
 * newlines, which cdt-gdb-adapter passes unescaped inside an MI C string (`-interpreter-exec
 * console "…"`).
 */
export function pythonCommand(code: string): string {
  return `python exec(bytes.fromhex('${Buffer.from(code, 'utf8').toString('hex')}').decode())`;
}

/** Python that runs one GDB command and writes {ok, text} as JSON to `file`. */
function captureCode(cmd: string, file: string): string {
  return [
    'import gdb, json',
    'try:',
    `    r = {"ok": True, "text": gdb.execute(${JSON.stringify(cmd)}, to_string=True)}`,
    'except Exception as e:',
    '    r = {"ok": False, "text": str(e)}',
    `with open(${JSON.stringify(file)}, "w") as f:`,
    '    json.dump(r, f)',
    '',
  ].join('\n');
}

let captureDir: string | undefined;
let captureSeq = 0;

/** The process's capture directory, made at first use and removed when the process exits. */
function ensureCaptureDir(): string {
  if (captureDir === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ptview-gdb-'));
    process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    captureDir = dir;
  }
  return captureDir;
}

export class DebuggerConsole {
  /** GDB has Python (cdt's silent form works); set by detection. */
  python = false;
  /**
   * cdt-gdb-adapter shows every command's text in the user's Debug Console. With Python, GDB
   * writes it to a file of ours instead (GDB runs on this machine in every setup we know;
   * false once a file did not appear, and the console form is used from then on).
   */
  private captureToFile: boolean | undefined;

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
    if (this.python && this.dialect.dialect === 'cdt-gdb' && this.captureToFile !== false) {
      const text = await this.runCaptured(cmd, signal);
      if (text !== undefined) return text;
    }
    const req = this.dialect.raw(cmd);
    if (!req) throw new Error(`the ${this.dialect.dialect} dialect has no raw command channel`);
    if (req.output === 'events') {
      if (!this.transport.canCaptureOutput) throw new Error(`the ${this.dialect.dialect} dialect returns command output only as events, and no event observer was given`);
      const r = await this.transport.requestCapturingOutput(req.command, req.args, signal);
      return this.text(r.output + resultText(r.body));
    }
    return this.text(resultText(await this.transport.request(req.command, req.args, signal)));
  }

  private text(t: string): string {
    return this.dialect.commandText ? this.dialect.commandText(t) : t;
  }

  /** The command's text through a file, or undefined when GDB's file did not appear here. */
  private async runCaptured(cmd: string, signal?: AbortSignal): Promise<string | undefined> {
    const file = path.join(ensureCaptureDir(), `${process.pid}-${++captureSeq}.json`);
    const req = this.dialect.raw(pythonCommand(captureCode(cmd, file)));
    if (!req) return undefined;
    try {
      await this.transport.request(req.command, req.args, signal);
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      this.captureToFile = false;
      return undefined;
    }
    let r: { ok: boolean; text: string };
    try {
      r = JSON.parse(fs.readFileSync(file, 'utf8'));
      fs.rmSync(file, { force: true });
    } catch {
      this.captureToFile = false;
      return undefined;
    }
    this.captureToFile = true;
    if (!r.ok) throw new Error(r.text);
    return r.text;
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
