// In-memory stand-ins for the adapters we cannot run here, each following its documented
// request/response shape (/work/shared/notes/debug-access.md §3, from the adapters' sources):
// where raw commands go, where their text comes back, how registers evaluate. Behind them, a
// tiny QEMU: guest-physical pages, a PhyMemMode flag, `info mtree -f`, `xp`, registers.
import type { DebugProtocol } from '@vscode/debugprotocol';
import { DapChannel, DapObserver } from '../../../src/debug/api';

export type AdapterKind = 'cdt-gdb' | 'cppdbg' | 'cortex-debug' | 'gdb-dap' | 'codelldb' | 'lldb-dap' | 'native-debug' | 'readmemory-only';

export const MTREE = `FlatView #0
 AS "memory", root: system
 AS "cpu-memory-0", root: system
 Root memory region: system
  0000000000000000-000000000009ffff (prio 0, ram): pc.ram
  00000000000a0000-00000000000bffff (prio 1, i/o): vga-lowmem
  00000000000c0000-00000000000fffff (prio 0, rom): pc.bios @0000000000020000
  0000000000100000-0000000001ffffff (prio 0, ram): pc.ram @0000000000100000
  00000000fec00000-00000000fec00fff (prio 0, i/o): ioapic

FlatView #1
 AS "I/O", root: io
 Root memory region: io
  0000000000000000-0000000000000007 (prio 0, i/o): dma-chan
`;

const BANNER = 'GNU gdb (Debian 13.1-3) 13.1\nCopyright (C) 2023 Free Software Foundation, Inc.\n';

export class FakeQemu {
  phyMemMode = 0;
  flushes = 0;
  readonly pages = new Map<number, Uint8Array>();
  /** Virtual = physical + this offset (the guest's one mapping, a direct map). */
  directMap = 0xffff800000000000n;
  running = false;
  registers: Record<string, bigint> = { cr0: 0x80010011n, cr3: 0x200005n, cr4: 0x200a0n, efer: 0xd00n };
  /** A GDB built without Python. */
  noPython = false;
  /** The monitor lists no RAM (as QEMU's does for a session asked too early). */
  noRamYet = false;
  /** Kernel symbols the debugger knows, by the expression ptview evaluates. */
  symbols: Record<string, bigint> = {};

  /** Writes a 64-bit little-endian word (page-table entries). */
  poke(pa: number, v: bigint): void {
    new DataView(this.page(pa).buffer).setBigUint64(pa % 4096, v, true);
  }

  page(pa: number): Uint8Array {
    const base = pa - (pa % 4096);
    let p = this.pages.get(base);
    if (!p) {
      p = new Uint8Array(4096).map((_, i) => (base / 4096 + i) & 0xff);
      this.pages.set(base, p);
    }
    return p;
  }

  readPhys(pa: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) out[i] = this.page(pa + i)[(pa + i) % 4096];
    return out;
  }

  /** A GDB CLI command's console text (or throws GDB's error). */
  gdbCommand(cmd: string): string {
    let m: RegExpExecArray | null;
    if ((m = /^maintenance packet qqemu\.PhyMemMode$/.exec(cmd))) return `sending: qqemu.PhyMemMode\nreceived: "${this.phyMemMode}"\n`;
    if ((m = /^maintenance packet Qqemu\.PhyMemMode:([01])$/.exec(cmd))) {
      this.phyMemMode = Number(m[1]);
      return `sending: ${cmd.slice(19)}\nreceived: "OK"\n`;
    }
    if (cmd === 'maintenance flush dcache') {
      this.flushes++;
      return 'The dcache was flushed.\n';
    }
    if (cmd === 'monitor info mtree -f') return this.noRamYet ? 'FlatView #0\n AS "memory", root: system\n Root memory region: system\n' : MTREE;
    if (cmd === 'info connections') return 'No connections.\n';
    // A gdbstub connection that is not on this machine (no such socket here).
    if (cmd === 'monitor info chardev') return 'gdb: filename=tcp:127.0.0.1:1,server=on <-> 127.0.0.1:2\n';
    if (cmd === 'show version' || cmd === '-gdb-version') return BANNER;
    if (this.noPython && /^python\b/.test(cmd)) throw new Error('Python scripting is not supported in this copy of GDB.');
    if (cmd === 'python pass') return '';
    if ((m = /^monitor gpa2hva (0x[0-9a-f]+)$/.exec(cmd))) return `Host virtual address for ${m[1]} (pc.ram) is 0x7f0000000000\n`;
    if ((m = /^monitor xp \/(\d+)gx (0x[0-9a-f]+)$/.exec(cmd))) {
      const n = Number(m[1]);
      const pa = Number(m[2]);
      const bytes = this.readPhys(pa, n * 8);
      const dv = new DataView(bytes.buffer);
      const lines: string[] = [];
      for (let i = 0; i < n; i += 2) {
        const words = [dv.getBigUint64(i * 8, true), ...(i + 1 < n ? [dv.getBigUint64(i * 8 + 8, true)] : [])];
        lines.push(`${(pa + i * 8).toString(16).padStart(16, '0')}: ${words.map((w) => '0x' + w.toString(16).padStart(16, '0')).join(' ')}`);
      }
      return lines.join('\n') + '\n';
    }
    if ((m = /^python (.*)$/.exec(cmd))) {
      // The silent form: gdb.execute('X', to_string=True); … — run each, print nothing.
      for (const x of m[1].matchAll(/gdb\.execute\('((?:[^'\\]|\\.)*)', to_string=True\)/g)) this.gdbCommand(x[1].replace(/\\(.)/g, '$1'));
      return '';
    }
    throw new Error(`Undefined command: "${cmd.split(' ')[0]}".  Try "help".`);
  }

  /** LLDB's `process plugin packet …` forms (CodeLLDB). */
  lldbCommand(cmd: string): string {
    let m: RegExpExecArray | null;
    if ((m = /^process plugin packet send (.*)$/.exec(cmd))) {
      const reply = this.gdbCommand(`maintenance packet ${m[1]}`);
      return `  packet: ${m[1]}\nresponse: ${/received: "([^"]*)"/.exec(reply)![1]}\n`;
    }
    if ((m = /^process plugin packet monitor (.*)$/.exec(cmd))) {
      // LLDB 16 prints the monitor's text, then the packet it sent and QEMU's final reply.
      const hex = Buffer.from(m[1]).toString('hex');
      return `${this.gdbCommand(`monitor ${m[1]}`)}  packet: qRcmd,${hex}\nresponse: OK\n`;
    }
    if (cmd === 'version') return 'lldb version 16.0.6\n';
    throw new Error(`error: '${cmd.split(' ')[0]}' is not a valid command.`);
  }

  evaluateRegister(expr: string, lldb: boolean): string {
    // GDB's answer to the guarded form: "void" for a register it does not have, never an error.
    const g = /^\$_isvoid\(\$(\w+)\) \? \$\1 : sizeof\(\$\1\) == 4 \? \(unsigned long long\)\(unsigned int\)\$\1 : \(unsigned long long\)\$\1$/.exec(expr);
    if (g) return g[1] in this.registers ? this.registers[g[1]].toString() : 'void';
    const m = lldb ? /^\$(\w+)$/.exec(expr) : /^\(unsigned long long\)\$(\w+)$/.exec(expr);
    if (m && m[1] in this.registers) return lldb ? '0x' + this.registers[m[1]].toString(16).padStart(16, '0') : this.registers[m[1]].toString();
    if (/^sizeof\(\$pc\)$/.exec(expr)) return '8';
    if (expr in this.symbols) return this.symbols[expr].toString();
    throw new Error(lldb ? `error: use of undeclared identifier '${expr}'` : 'Invalid cast.');
  }
}

/** A fake session: channel + observer, every request recorded. */
export class FakeAdapter {
  readonly requests: { command: string; args: any }[] = [];
  readonly consoleOutput: string[] = [];
  private listeners = new Set<(e: DebugProtocol.Event) => void>();
  readonly channel: DapChannel;
  readonly observer: DapObserver;

  constructor(
    readonly kind: AdapterKind,
    readonly qemu = new FakeQemu(),
    type = ({ 'cdt-gdb': 'gdbtarget', cppdbg: 'cppdbg', 'cortex-debug': 'cortex-debug', 'gdb-dap': 'gdb', codelldb: 'lldb', 'lldb-dap': 'lldb-vscode', 'native-debug': 'gdb', 'readmemory-only': 'mock' } as const)[kind],
    withEvents = true,
  ) {
    this.channel = { type, request: (c, a) => this.handle(c, a) };
    this.observer = {
      // lldb-vscode 16 (Debian 12's lldb-16) has no readMemory (LLVM 18's lldb-dap added it).
      capabilities: { supportsReadMemoryRequest: kind !== 'native-debug' && kind !== 'lldb-dap', supportsConfigurationDoneRequest: true },
      onEvent: withEvents
        ? (l) => {
            this.listeners.add(l);
            return { dispose: () => this.listeners.delete(l) };
          }
        : undefined,
    };
  }

  private output(text: string): void {
    if (!text) return;
    this.consoleOutput.push(text);
    for (const l of this.listeners) l({ seq: 0, type: 'event', event: 'output', body: { category: 'stdout', output: text } } as DebugProtocol.OutputEvent);
  }

  emit(event: string, body: unknown = {}): void {
    for (const l of this.listeners) l({ seq: 0, type: 'event', event, body });
  }

  private async handle(command: string, args: any): Promise<any> {
    this.requests.push({ command, args });
    await new Promise((r) => setImmediate(r));
    const q = this.qemu;
    const lldb = this.kind === 'codelldb' || this.kind === 'lldb-dap';
    switch (command) {
      case 'threads':
        return { threads: [{ id: 1, name: 'CPU#0', ...(this.kind === 'cdt-gdb' ? { running: q.running } : {}) }] };
      case 'stackTrace':
        if (q.running) throw new Error(this.kind === 'cppdbg' ? 'Unable to perform this action because the process is running.' : 'Thread is running.');
        if (args?.threadId !== 1) throw new Error(`Invalid thread id: ${args?.threadId}`);
        return { stackFrames: [{ id: 1000, name: '??', line: 0, column: 0 }], totalFrames: 1 };
      case 'readMemory': {
        if (this.kind === 'native-debug') throw new Error('Unrecognized request');
        if (this.kind === 'lldb-dap') throw new Error('lldb-vscode 16 aborts on readMemory (terminate called without an active exception)');
        if (q.running) throw new Error('Cannot execute this command while the target is running.');
        const addr = BigInt(args.memoryReference);
        let pa: number;
        if (q.phyMemMode) pa = Number(addr);
        else if (addr >= q.directMap) pa = Number(addr - q.directMap);
        else throw new Error(`Unable to read memory. (@ 0x${addr.toString(16)})`);
        return { address: args.memoryReference, data: Buffer.from(q.readPhys(pa, args.count)).toString('base64') };
      }
      case 'evaluate':
        return this.evaluate(args, lldb);
      default:
        throw new Error(`unknown request ${command}`);
    }
  }

  /** cdt-gdb-adapter's answer to an array in context `variables`: its elements as JSON text (numbers). */
  private registerArray(args: { expression: string; frameId?: number }): any {
    const q = this.qemu;
    if (args.frameId === undefined) throw new Error('Evaluation of expression without frameId is not supported.');
    if (q.running) throw new Error('Error: could not evaluate expression');
    const names = [...args.expression.matchAll(/\(\$_isvoid\(\$(\w+)\) \? 0u : \d+u\)/g)].map((m) => m[1]);
    let mask = 0;
    const words: number[] = [];
    names.forEach((n, i) => {
      const v = q.registers[n];
      if (v !== undefined) mask |= 2 ** i;
      words.push(Number((v ?? 0n) >> 32n), Number((v ?? 0n) & 0xffffffffn));
    });
    return { result: JSON.stringify([mask >>> 0, ...words], null, 2), type: `unsigned int [${1 + words.length}]`, variablesReference: 1000 };
  }

  private evaluate(args: { expression: string; context?: string; frameId?: number }, lldb: boolean): any {
    const q = this.qemu;
    const e = args.expression;
    const raw = (cmd: string, where: 'result' | 'events') => {
      if (q.running) throw new Error('Cannot execute this command while the target is running.');
      const text = lldb ? q.lldbCommand(cmd) : q.gdbCommand(cmd);
      if (where === 'events') {
        this.output(text);
        return { result: '\r', variablesReference: 0 };
      }
      return { result: text, variablesReference: 0 };
    };
    const watch = () => {
      if (this.kind === 'cdt-gdb' && args.frameId === undefined) throw new Error('Evaluation of expression without frameId is not supported.');
      if (q.running) throw new Error('Error: could not evaluate expression');
      return { result: q.evaluateRegister(e, lldb), variablesReference: 0 };
    };
    switch (this.kind) {
      case 'cdt-gdb':
        // `>CMD` in repl goes to GDB (MI when it starts with '-'); text only as output events.
        if (args.context === 'repl' && e.startsWith('>')) return raw(e.slice(1), 'events');
        if (args.context === 'variables' && e.startsWith('{')) return this.registerArray(args);
        return watch();
      case 'cppdbg':
        if (args.context === 'repl' && e.startsWith('-exec ')) return raw(e.slice(6), 'result');
        return watch();
      case 'cortex-debug':
        if (args.context === 'repl') return raw(e, 'events');
        return watch();
      case 'gdb-dap':
        if (args.context === 'repl') return raw(e, 'result');
        return watch();
      case 'codelldb':
        if (args.context === '_command') return raw(e, 'result');
        return watch();
      case 'lldb-dap': {
        // A backtick makes any context's expression an LLDB command, echoed before its text.
        if (e.startsWith('`')) {
          const r = raw(e.slice(1), 'result');
          return { ...r, result: `(lldb) ${e.slice(1)}\n${r.result}` };
        }
        if (args.frameId === undefined) throw new Error('error: No value');
        return { result: BigInt(q.evaluateRegister(e, true)).toString(), type: 'unsigned long', variablesReference: 0 };
      }
      case 'native-debug':
        if (args.context === 'repl') {
          if (e.startsWith('>')) throw new Error(`Undefined command: "${e}".`);
          const text = q.gdbCommand(e);
          this.output(text);
          return { result: '{"token":1,"outOfBandRecord":[],"resultRecords":{"resultClass":"done","results":[]}}', variablesReference: 0 };
        }
        return watch();
      case 'readmemory-only':
        if (args.context === 'repl') throw new Error('not available');
        return { result: q.evaluateRegister(e.replace(/^\$/, '(unsigned long long)$'), false), variablesReference: 0 };
    }
  }
}
