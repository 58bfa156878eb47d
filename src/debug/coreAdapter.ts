// The `ptview-core` debug adapter: a core file (QEMU dump-guest-memory ELF or kdump, Linux vmcore)
// as a stopped debug session, built on @vscode/debugadapter and run inline by the extension.
// One thread per CPU in the core's notes, one frame at its PC, a Registers scope; readMemory on
// guest-physical memory ("0x…" or "phys:0x…") and on guest-virtual memory through the tables of
// that CPU's root ("virt:CPU:0x…", or the expression "virt 0x…" in a frame). Nothing is ever
// written and nothing runs: continue/step requests are refused.
// ptview's own views read the core through two custom requests (see coreTarget.ts), so paging
// registers and physical memory are direct, not emulated through a debugger.

import { DebugSession, InitializedEvent, StoppedEvent, TerminatedEvent, Thread, StackFrame, Scope, Source } from '@vscode/debugadapter';
import type { DebugProtocol } from '@vscode/debugprotocol';
import { AddressSyntaxError, hex, parseAddress, physAddr } from '../core/addr';
import { archModule } from '../core/arch';
import { spaceFromRegisters } from '../core/formats';
import { MemoryReadError } from '../core/memory';
import { PageTableSession } from '../core/ops/session';
import { QemuCore, coreRegisters, openCore } from '../core/sources';
import { CORE_INFO_REQUEST, CORE_READ_REQUEST, CoreInfo, CoreLaunchArguments, FRAME_BASE, PhysicalReads } from './coreProtocol';

export { CORE_DEBUG_TYPE, CORE_INFO_REQUEST, CORE_READ_REQUEST } from './coreProtocol';
export type { CoreInfo, CoreLaunchArguments, PhysicalReads } from './coreProtocol';

const SCOPE_BASE = 2000;
const SOURCE_BASE = 3000;

export class PtviewCoreSession extends DebugSession {
  private core: QemuCore | undefined;
  private given = new Map<string, bigint>();
  private readonly sessions = new Map<number, PageTableSession>();

  protected override initializeRequest(response: DebugProtocol.InitializeResponse): void {
    response.body = {
      ...response.body,
      supportsConfigurationDoneRequest: true,
      supportsReadMemoryRequest: true,
      supportsEvaluateForHovers: false,
      supportsTerminateRequest: true,
    };
    this.sendResponse(response);
  }

  protected override async launchRequest(response: DebugProtocol.LaunchResponse, args: CoreLaunchArguments): Promise<void> {
    try {
      if (typeof args.core !== 'string' || !args.core) throw new Error('launch.json: "core" must name a core file');
      this.core = await openCore(args.core);
      const names = archModule(this.core.arch).registerNames;
      for (const [k, v] of Object.entries(args.registers ?? {})) {
        const n = k.toLowerCase();
        if (!names.includes(n)) throw new Error(`launch.json: unknown register '${k}' for ${this.core.arch}; known: ${names.map((x) => x.toUpperCase()).join(', ')}`);
        this.given.set(n, parseAddress(String(v), `value of ${k}`));
      }
      this.sendResponse(response);
      this.sendEvent(new InitializedEvent());
    } catch (e) {
      await this.core?.close();
      this.core = undefined;
      this.sendErrorResponse(response, 1, (e as Error).message);
    }
  }

  protected override configurationDoneRequest(response: DebugProtocol.ConfigurationDoneResponse): void {
    this.sendResponse(response);
    // A core never runs: every thread is stopped from the start.
    const ev = new StoppedEvent('entry', 1) as DebugProtocol.StoppedEvent;
    ev.body.allThreadsStopped = true;
    ev.body.description = 'core file';
    this.sendEvent(ev);
  }

  private cpus(): number {
    return Math.max(1, this.core?.cpus.length ?? 0);
  }

  private regsOf(cpu: number) {
    return coreRegisters(this.core!, cpu, this.given);
  }

  protected override threadsRequest(response: DebugProtocol.ThreadsResponse): void {
    const core = this.core;
    response.body = {
      threads: core ? Array.from({ length: this.cpus() }, (_, i) => new Thread(i + 1, `CPU ${i}${core.cpus[i]?.pid !== undefined ? ` (pid ${core.cpus[i].pid})` : ''}`)) : [],
    };
    this.sendResponse(response);
  }

  protected override stackTraceRequest(response: DebugProtocol.StackTraceResponse, args: DebugProtocol.StackTraceArguments): void {
    const cpu = args.threadId - 1;
    const pc = this.core ? this.regsOf(cpu).registers.get('pc') : undefined;
    // The frame's source is a text page about this CPU, served by sourceRequest: VS Code focuses
    // (and shows Variables of) a frame only when it has a source it can open, and a path would
    // make it open the binary core file itself.
    const name = `${this.core?.path.split(/[\\/]/).pop() ?? 'core'} · CPU ${cpu}`;
    const frame = new StackFrame(FRAME_BASE + cpu, pc === undefined ? `CPU ${cpu}` : `CPU ${cpu} @ ${hex(pc)}`, new Source(name, undefined, SOURCE_BASE + cpu), 1, 1);
    (frame as DebugProtocol.StackFrame).instructionPointerReference = pc === undefined ? undefined : hex(pc);
    (frame as DebugProtocol.StackFrame).presentationHint = 'normal';
    response.body = { stackFrames: [frame], totalFrames: 1 };
    this.sendResponse(response);
  }

  protected override sourceRequest(response: DebugProtocol.SourceResponse, args: DebugProtocol.SourceArguments): void {
    const cpu = (args.source?.sourceReference ?? args.sourceReference) - SOURCE_BASE;
    if (!this.core || cpu < 0 || cpu >= this.cpus()) return this.sendErrorResponse(response, 6, 'no such CPU in the core');
    const r = this.regsOf(cpu);
    const regs = [...r.registers].map(([k, v]) => `  ${k.padEnd(10)} ${hex(v)}`);
    const lines = [
      `CPU ${cpu} of ${this.core.path}`,
      `${this.core.format} core, ${this.core.arch}, ${this.cpus()} CPU(s); a core never runs: continue and step are refused.`,
      ...[...this.core.warnings, ...r.notes].map((n) => `note: ${n}`),
      '',
      'Registers (from the core\'s notes, the launch configuration\'s "registers" and VMCOREINFO):',
      ...regs,
      '',
      'Debug Console: $REG gives a register; "virt 0xVA" or "phys 0xPA" gives a memory reference for the Memory Inspector.',
    ];
    response.body = { content: lines.join('\n') + '\n', mimeType: 'text/plain' };
    this.sendResponse(response);
  }

  protected override scopesRequest(response: DebugProtocol.ScopesResponse, args: DebugProtocol.ScopesArguments): void {
    const cpu = args.frameId - FRAME_BASE;
    response.body = { scopes: [new Scope('Registers', SCOPE_BASE + cpu, false)] };
    this.sendResponse(response);
  }

  protected override variablesRequest(response: DebugProtocol.VariablesResponse, args: DebugProtocol.VariablesArguments): void {
    const cpu = args.variablesReference - SCOPE_BASE;
    const regs = this.core && cpu >= 0 && cpu < this.cpus() ? this.regsOf(cpu).registers : new Map<string, bigint>();
    response.body = { variables: [...regs].map(([name, v]) => ({ name, value: hex(v), variablesReference: 0, memoryReference: hex(v) })) };
    this.sendResponse(response);
  }

  protected override async evaluateRequest(response: DebugProtocol.EvaluateResponse, args: DebugProtocol.EvaluateArguments): Promise<void> {
    try {
      const cpu = args.frameId !== undefined ? args.frameId - FRAME_BASE : 0;
      const text = args.expression.trim();
      const reg = /^\$([a-z][a-z0-9_]*)$/i.exec(text);
      if (reg && this.core) {
        const v = this.regsOf(cpu).registers.get(reg[1].toLowerCase());
        if (v === undefined) throw new Error(`the core holds no register ${reg[1]} for CPU ${cpu}`);
        response.body = { result: hex(v), variablesReference: 0 };
      } else {
        const m = /^(phys|virt)\s+(.+)$/i.exec(text);
        const addr = parseAddress(m ? m[2] : text, 'address');
        const virt = m?.[1].toLowerCase() === 'virt';
        response.body = { result: hex(addr), variablesReference: 0, memoryReference: virt ? `virt:${cpu}:${hex(addr)}` : `phys:${hex(addr)}` };
      }
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, 2, e instanceof AddressSyntaxError ? `${e.message} (a number, "phys ADDR", "virt ADDR" or $register)` : (e as Error).message);
    }
  }

  private async space(cpu: number): Promise<PageTableSession> {
    let s = this.sessions.get(cpu);
    if (!s) {
      const space = spaceFromRegisters(this.core!.arch, this.regsOf(cpu).registers);
      s = new PageTableSession(space, this.core!.memory);
      this.sessions.set(cpu, s);
    }
    return s;
  }

  protected override async readMemoryRequest(response: DebugProtocol.ReadMemoryResponse, args: DebugProtocol.ReadMemoryArguments): Promise<void> {
    try {
      if (!this.core) throw new Error('no core is open');
      const ref = args.memoryReference;
      const m = /^virt:(\d+):(.+)$/.exec(ref);
      const base = parseAddress(m ? m[2] : ref.replace(/^phys:/, ''), 'memoryReference') + BigInt(args.offset ?? 0);
      const count = Math.min(args.count, 1 << 20);
      const out = Buffer.alloc(count);
      let done = 0;
      let unreadable = 0;
      while (done < count) {
        const at = base + BigInt(done);
        let pa: bigint;
        let chunk = Math.min(count - done, 4096 - Number(at & 0xfffn));
        if (m) {
          const t = await (await this.space(Number(m[1]))).translate(at);
          if (t.kind !== 'mapped') break;
          pa = BigInt(t.pa!);
          chunk = Math.min(chunk, 4096 - Number(pa & 0xfffn));
        } else pa = at;
        try {
          const b = await this.core.memory.read(physAddr(Number(pa)), chunk);
          Buffer.from(b).copy(out, done);
          done += b.length;
          if (b.length < chunk) break;
        } catch (e) {
          if (!(e instanceof MemoryReadError)) throw e;
          break;
        }
      }
      unreadable = count - done;
      response.body = { address: hex(base), data: out.subarray(0, done).toString('base64'), unreadableBytes: unreadable || undefined };
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, 3, (e as Error).message);
    }
  }

  protected override async customRequest(command: string, response: DebugProtocol.Response, args: any): Promise<void> {
    try {
      if (!this.core) throw new Error('no core is open');
      if (command === CORE_INFO_REQUEST) {
        const cpu = typeof args?.threadId === 'number' ? args.threadId - 1 : 0;
        const r = this.regsOf(cpu);
        const body: CoreInfo = {
          arch: this.core.arch,
          format: this.core.format,
          cpu,
          ram: this.core.memory.ram.map((x) => ({ start: x.start, end: x.end, name: x.name })),
          registers: Object.fromEntries([...r.registers].map(([k, v]) => [k, hex(v)])),
          source: `core file ${this.core.path} (${this.core.format}), CPU ${cpu}`,
          notes: [...this.core.warnings, ...r.notes],
        };
        response.body = body;
      } else if (command === CORE_READ_REQUEST) {
        const reads = (args?.reads ?? []) as { addr: number; length: number }[];
        const results = await this.core.memory.readMany(reads.map((x) => ({ addr: physAddr(x.addr), length: x.length })));
        const body: PhysicalReads = {
          results: results.map((x) => (x instanceof MemoryReadError ? { error: x.message, reason: x.reason } : { data: Buffer.from(x).toString('base64') })),
        };
        response.body = body;
      } else {
        return super.customRequest(command, response, args);
      }
      this.sendResponse(response);
    } catch (e) {
      this.sendErrorResponse(response, 4, (e as Error).message);
    }
  }

  private refuseRun(response: DebugProtocol.Response): void {
    this.sendErrorResponse(response, 5, 'a core file cannot run: it is the state of a stopped machine');
  }
  protected override continueRequest(r: DebugProtocol.ContinueResponse): void {
    this.refuseRun(r);
  }
  protected override nextRequest(r: DebugProtocol.NextResponse): void {
    this.refuseRun(r);
  }
  protected override stepInRequest(r: DebugProtocol.StepInResponse): void {
    this.refuseRun(r);
  }
  protected override stepOutRequest(r: DebugProtocol.StepOutResponse): void {
    this.refuseRun(r);
  }
  protected override pauseRequest(r: DebugProtocol.PauseResponse): void {
    this.sendResponse(r); // already stopped
  }

  protected override async terminateRequest(response: DebugProtocol.TerminateResponse): Promise<void> {
    this.sendResponse(response);
    this.sendEvent(new TerminatedEvent());
  }

  protected override async disconnectRequest(response: DebugProtocol.DisconnectResponse): Promise<void> {
    await this.core?.close();
    this.core = undefined;
    this.sendResponse(response);
  }
}
