// TargetCommands through a debug adapter's debugger: GDB's `maintenance packet` and `monitor`
// (or LLDB's `process plugin packet`), text from the dialect's command channel, reads with DAP
// readMemory.
import type { PhysAddr } from '../core/addr';
import { LiveAccessError } from './api';
import { DebuggerConsole } from './console';
import { readMemory } from './dapMemory';
import { packetReply } from './dialects';
import { findQemuPid, hasConnection } from './procfs';
import { parseChardevGdb, parseConnection } from './ram';
import { TargetCommands, Unavailable } from './strategies/types';

/** Requests in flight per batch: the adapter pipelines them (4 × 4 KiB in ~3.8 ms). */
const IN_FLIGHT = 16;

export class DapCommands implements TargetCommands {
  readonly inFlight = IN_FLIGHT;
  readonly ordered = false;

  constructor(readonly con: DebuggerConsole) {}

  get noCommands(): string | undefined {
    const d = this.con.dialect;
    if (d.debugger !== 'none' && !this.con.canRun && d.raw('x')?.output === 'events') {
      return `the ${d.dialect} dialect returns command text only as output events and no event observer was given`;
    }
    return d.debugger === 'none' || !this.con.canRun ? `the ${d.dialect} dialect cannot send gdbstub packets or monitor commands and read their text` : undefined;
  }

  /** Only when the adapter said so: capabilities unknown (e.g. not captured) are not a refusal. */
  get noReads(): string | undefined {
    const caps = this.con.transport.observer.capabilities;
    return caps && !caps.supportsReadMemoryRequest ? `the debug adapter offers no readMemory request (${this.con.dialect.dialect})` : undefined;
  }

  async qemuPid(signal?: AbortSignal): Promise<{ pid: number } | Unavailable> {
    if (this.con.dialect.debugger === 'lldb') return this.qemuPidFromChardev(signal);
    if (this.con.dialect.debugger !== 'gdb') return { unavailable: `the ${this.con.dialect.dialect} dialect cannot say which gdbstub it is connected to (GDB's 'info connections')` };
    let conn;
    try {
      conn = parseConnection(await this.con.run('info connections', signal));
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      return { unavailable: `'info connections' failed: ${(e as Error).message}` };
    }
    if (!conn) return { unavailable: 'GDB is not connected to a TCP gdbstub (info connections shows no host:port)' };
    const found = await findQemuPid(conn.host, conn.port);
    return 'reason' in found ? { unavailable: found.reason } : found;
  }

  /**
   * LLDB has no `info connections`: QEMU's own `info chardev` names the gdbstub's port and the
   * connected debugger's end. That connection must exist on this machine (an established socket
   * from that port to that peer port), or the QEMU found by the port could be another one.
   */
  private async qemuPidFromChardev(signal?: AbortSignal): Promise<{ pid: number } | Unavailable> {
    let c;
    try {
      c = parseChardevGdb(await this.monitor('info chardev', signal));
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      return { unavailable: `'monitor info chardev' failed: ${(e as Error).message}` };
    }
    if (!c) return { unavailable: "QEMU's 'info chardev' shows no TCP gdbstub" };
    if (!c.peer) return { unavailable: `QEMU's 'info chardev' shows no debugger connected to its gdbstub on port ${c.port}` };
    if (!(await hasConnection(c.port, c.peer.port))) return { unavailable: `the gdbstub connection QEMU reports (port ${c.port} <-> ${c.peer.host}:${c.peer.port}) is not on this machine` };
    const found = await findQemuPid(c.peer.host, c.port);
    return 'reason' in found ? { unavailable: found.reason } : found;
  }

  monitor(cmd: string, signal?: AbortSignal): Promise<string> {
    return this.con.run(this.con.dialect.monitor(cmd), signal);
  }

  async packet(p: string, signal?: AbortSignal): Promise<string | undefined> {
    return packetReply(await this.con.run(this.con.dialect.packet(p), signal));
  }

  async setPhyMemMode(on: boolean): Promise<void> {
    const d = this.con.dialect;
    const flush = d.flushCache();
    // GDB's dcache ignores the switch: flush it with the switch back, or the user's views show
    // physical bytes cached during the window.
    await this.con.quiet(on || !flush ? [d.packet(`Qqemu.PhyMemMode:${on ? 1 : 0}`)] : [d.packet('Qqemu.PhyMemMode:0'), flush]);
  }

  read(reportAddr: PhysAddr, address: bigint, count: number, signal?: AbortSignal): Promise<Uint8Array> {
    return readMemory(this.con.transport, reportAddr, `0x${address.toString(16)}`, count, signal);
  }
}
