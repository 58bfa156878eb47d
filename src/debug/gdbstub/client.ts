// A GDB remote-protocol client over TCP for QEMU's gdbstub (framing in rsp.ts; GDB manual,
// "Remote Protocol": "Packet Acknowledgment" for acks and QStartNoAckMode, "Standard Replies" for
// `E NN` and the empty "unsupported" reply, "General Query Packets" for qSupported and qRcmd's
// `O` output packets). What QEMU does beyond the manual was observed on QEMU 7.2 and is noted
// where it matters. Requests are
// pipelined: several packets may be in flight and replies come back in order (QEMU's system-mode
// stub answers each packet as it parses it and never waits for our acks). Never sends anything
// that resumes or writes the guest; close() drops the connection without `D`, because QEMU
// resumes the VM on a detach packet and keeps it paused when the socket just closes.
import net from 'node:net';
import { FrameReader, encodePacket, errorReply, hexToBytes, isStopReply, toHex } from './rsp';

export type StubErrorKind = 'refused' | 'busy' | 'timeout' | 'closed' | 'protocol' | 'error-reply' | 'unsupported';

/** A failure of the stub connection or one request, with a message the user can act on. */
export class GdbStubError extends Error {
  override name = 'GdbStubError';
  constructor(
    readonly kind: StubErrorKind,
    message: string,
  ) {
    super(message);
  }
}

interface Pending {
  readonly packet: string;
  resolve(reply: string): void;
  reject(e: Error): void;
  /** qRcmd: the `O` output packets collected before the final reply. */
  output?: string[];
  /** When its answer became the next one due: sent, the previous answer, or its last `O` packet. */
  since: number;
}

export interface StubOptions {
  /** Per-request and connect timeout (default 3000 ms; QEMU answers in well under 1 ms). */
  timeoutMs?: number;
}

/** qXfer chunks asked for at once after the first (a 50 KiB AArch64 system-register description is ~25). */
const XFER_AHEAD = 8;

export class GdbStubClient {
  /** Packets sent (the transport cost, like DAP requests on the other path). */
  packets = 0;
  /** Called for every packet sent (the target's request counter). */
  onSend: (() => void) | undefined;
  /** The stub's qSupported features ("PacketSize" → "1000", "qXfer:features:read" → "+"). */
  readonly features = new Map<string, string>();
  private readonly reader = new FrameReader();
  private readonly pending: Pending[] = [];
  /** Sent packets not yet acked (ack mode only): a `-` retransmits the oldest. */
  private readonly unacked: string[] = [];
  private noAck = false;
  /** What this job sent so far (packets, acks): one write at its end. */
  private outgoing = '';
  /** Bytes received so far: none at all after a request means QEMU never accepted us. */
  private received = 0;
  private dead: GdbStubError | undefined;
  /** The one timer: on the oldest request in flight (the stub answers in order). */
  private timer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Whether a `Qqemu.PhyMemMode:1` may be in effect: close() switches it back first. */
  private phyMemOn = false;

  private constructor(
    private readonly sock: net.Socket,
    readonly host: string,
    readonly port: number,
    private readonly timeoutMs: number,
  ) {
    sock.setNoDelay(true);
    // Bytes as latin1 text, one character each (no stream decoder: a byte never spans chunks).
    sock.on('data', (d: Buffer) => this.onData(d.toString('latin1')));
    sock.on('error', (e) => this.fail(new GdbStubError('closed', `the connection to ${this.where} failed: ${e.message}`)));
    sock.on('close', () => this.fail(this.closedError()));
  }

  get where(): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  get noAckMode(): boolean {
    return this.noAck;
  }

  get connected(): boolean {
    return this.dead === undefined;
  }

  /** Largest `m` read the stub answers in one packet (hex doubles it; QEMU: 0x800 of 0x1000). */
  get maxRead(): number {
    const size = parseInt(this.features.get('PacketSize') ?? '', 16);
    return size >= 64 ? Math.min(size >> 1, 0x10000) : 0x200;
  }

  /**
   * Connects and negotiates: qSupported (PacketSize, qXfer), then QStartNoAckMode when offered
   * (QEMU 7.2 does not offer it: acks stay on). Errors: nothing listening, a stub that closes the
   * connection at once (QEMU serving another debugger), or no answer.
   */
  static async connect(host: string, port: number, opts: StubOptions = {}): Promise<GdbStubClient> {
    const c = await GdbStubClient.open(host, port, opts);
    await c.negotiate();
    return c;
  }

  /**
   * The TCP connection alone; negotiate() must be the first request. Requests may be queued behind
   * it before its answer (the stub answers in order), as openStubTarget does with its first ones.
   */
  static async open(host: string, port: number, opts: StubOptions = {}): Promise<GdbStubClient> {
    const timeoutMs = opts.timeoutMs ?? 3000;
    const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
    const sock = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host, port });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new GdbStubError('timeout', `no TCP connection to ${where} within ${timeoutMs} ms`));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        reject(
          e.code === 'ECONNREFUSED'
            ? new GdbStubError('refused', `nothing is listening on ${where} (connection refused): start QEMU with -gdb tcp::${port} (or -s for port 1234)`)
            : new GdbStubError('refused', `cannot connect to ${where}: ${e.message}`),
        );
      });
    });
    return new GdbStubClient(sock, host, port, timeoutMs);
  }

  /** qSupported and, when offered, QStartNoAckMode; the connection is dropped on failure. */
  async negotiate(): Promise<void> {
    try {
      const sup = await this.request('qSupported:multiprocess-;swbreak+;xmlRegisters=i386');
      for (const item of sup.split(';')) {
        const m = /^([^=+\-?]+)(?:=(.*)|([+\-?]))$/.exec(item);
        if (m) this.features.set(m[1], m[2] ?? m[3]);
      }
      if (this.features.get('QStartNoAckMode') === '+' && (await this.request('QStartNoAckMode')) === 'OK') this.noAck = true;
    } catch (e) {
      this.destroy();
      throw e;
    }
  }

  private closedError(): GdbStubError {
    // Not a byte came back: the stub took the connection only to drop it.
    return this.received === 0 && this.pending.length > 0
      ? new GdbStubError('busy', `the gdbstub at ${this.where} closed the connection without answering: QEMU serves one debugger at a time — detach the other one (or wait for it to finish) and try again`)
      : new GdbStubError('closed', `the gdbstub at ${this.where} closed the connection (QEMU exited?)`);
  }

  private fail(e: GdbStubError): void {
    if (!this.dead) this.dead = e;
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const p of this.pending.splice(0)) p.reject(this.dead);
    if (!this.sock.destroyed) this.sock.destroy();
  }

  private onData(chunk: string): void {
    this.received += chunk.length;
    // Acks (and retransmissions) of one chunk go out in one write, in order: a chunk of pipelined
    // replies holds dozens of packets, and a write per `+` cost a system call each.
    let back = '';
    for (const f of this.reader.push(chunk)) {
      if (f.kind === 'ack') this.unacked.shift();
      else if (f.kind === 'nak') {
        const again = this.unacked[0];
        if (again !== undefined) back += again;
      } else if (f.kind === 'packet') {
        if (!this.noAck) back += f.checksumOk ? '+' : '-';
        if (f.checksumOk) this.onPacket(f.data);
      }
      // Notifications (%Stop…) are for non-stop mode, which ptview never enables.
    }
    if (back && !this.sock.destroyed) this.write(back);
  }

  private onPacket(data: string): void {
    const p = this.pending[0];
    if (!p) return; // unasked: e.g. the stop reply QEMU sends when a client stops the VM
    if (p.output && data.length > 1 && data[0] === 'O' && /^[0-9a-f]+$/i.test(data.slice(1))) {
      p.output.push(Buffer.from(data.slice(1), 'hex').toString('latin1'));
      p.since = performance.now();
      return;
    }
    // A stop reply that no request asked for (only `?`, `c`, `s`, `vCont` get one): QEMU's
    // notification of the stop caused by our own connect.
    if (isStopReply(data) && p.packet !== '?') return;
    this.pending.shift();
    const next = this.pending[0];
    if (next) next.since = performance.now();
    p.resolve(data);
  }

  /**
   * Times the oldest request: it fails when the stub makes no progress on the queue (no answer, no
   * `O` packet) for timeoutMs. One timer for the whole queue, not one per pipelined packet: set
   * when a request finds the queue empty, and when it fires, set again for the time the oldest
   * request still has (answers only move `since`). Unreferenced: the socket keeps node running.
   */
  private watch(): void {
    const p = this.pending[0];
    if (!p) {
      this.timer = undefined;
      return;
    }
    const left = p.since + this.timeoutMs - performance.now();
    if (left > 0) {
      this.timer = setTimeout(() => this.watch(), left).unref();
      return;
    }
    // QEMU serves one client: a second connection is left unaccepted in the listen queue (the
    // TCP connect succeeds) and never gets a byte, not even the ack of its first packet.
    this.fail(
      this.received === 0
        ? new GdbStubError('busy', `the gdbstub at ${this.where} accepted the connection but sent nothing within ${this.timeoutMs} ms: QEMU serves one debugger at a time — another debugger is probably attached (detach it or wait for it to finish), or ${this.where} is not a gdbstub`)
        : new GdbStubError('timeout', `the gdbstub at ${this.where} did not answer '${p.packet.slice(0, 40)}' within ${this.timeoutMs} ms`),
    );
  }

  /** Sends one packet; resolves with its reply's data (text, latin1). */
  request(packet: string, opts: { output?: string[] } = {}): Promise<string> {
    if (this.closing) return Promise.reject(new GdbStubError('closed', `the connection to ${this.where} is closing`));
    return this.send(packet, opts);
  }

  private send(packet: string, opts: { output?: string[] } = {}): Promise<string> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise<string>((resolve, reject) => {
      const p: Pending = { packet, resolve, reject, output: opts.output, since: performance.now() };
      this.pending.push(p);
      if (!this.timer) this.watch();
      const wire = encodePacket(packet);
      if (!this.noAck) this.unacked.push(wire);
      this.packets++;
      this.onSend?.();
      this.write(wire);
    });
  }

  /**
   * Writes go out together at the end of the current job (one write for a pipelined batch, not a
   * system call per packet). Code that sends and then works synchronously for a while lets the
   * batch go first by yielding once (as openStubTarget's QEMU process lookup does).
   */
  private write(data: string): void {
    if (this.outgoing === '')
      queueMicrotask(() => {
        const out = this.outgoing;
        this.outgoing = '';
        if (!this.sock.destroyed) this.sock.write(out, 'latin1');
      });
    this.outgoing += data;
  }

  /** A request whose `E NN` reply is an error. */
  async command(packet: string): Promise<string> {
    const r = await this.request(packet);
    const err = errorReply(r);
    if (err) throw new GdbStubError('error-reply', `the gdbstub refused '${packet.slice(0, 40)}': ${err}`);
    return r;
  }

  /** A QEMU monitor command through qRcmd; its text (the `O` packets). */
  async monitor(cmd: string): Promise<string> {
    const output: string[] = [];
    const r = await this.request(`qRcmd,${toHex(cmd)}`, { output });
    if (r === '') throw new GdbStubError('unsupported', `the gdbstub at ${this.where} has no monitor (qRcmd unsupported)`);
    const err = errorReply(r);
    if (err) throw new GdbStubError('error-reply', `monitor '${cmd}' failed: ${err}`);
    // QEMU answers OK after the output; some stubs send the text as the final hex reply.
    if (r !== 'OK' && /^[0-9a-f]+$/i.test(r)) output.push(Buffer.from(r, 'hex').toString('latin1'));
    return output.join('');
  }

  /** `count` bytes at `addr` with `m` packets of at most maxRead bytes, sent together. */
  async readMemory(addr: bigint, count: number): Promise<Uint8Array> {
    const step = this.maxRead;
    const parts: Promise<string>[] = [];
    for (let off = 0; off < count; off += step) {
      const n = Math.min(step, count - off);
      parts.push(this.request(`m${(addr + BigInt(off)).toString(16)},${n.toString(16)}`));
    }
    const replies = await Promise.all(parts);
    const out = new Uint8Array(count);
    let at = 0;
    for (const r of replies) {
      const err = errorReply(r);
      if (err) throw new GdbStubError('error-reply', `memory at 0x${(addr + BigInt(at)).toString(16)} is unreadable (${err})`);
      const bytes = hexToBytes(r);
      if (bytes.length === 0) throw new GdbStubError('error-reply', `empty reply reading memory at 0x${(addr + BigInt(at)).toString(16)}`);
      out.set(bytes.subarray(0, count - at), at);
      at += bytes.length;
    }
    if (at < count) throw new GdbStubError('error-reply', `short read at 0x${addr.toString(16)}: ${at} of ${count} bytes`);
    return out;
  }

  /**
   * A qXfer object read whole (`m` chunks until `l`). After the first chunk (whose length is the
   * stub's chunk size: QEMU caps it near half its packet size), the next chunks are asked for
   * XFER_AHEAD at a time, back to back; replies past the end are ignored. A stub whose chunks
   * vary in length is read one chunk at a time.
   */
  async readXfer(object: string, annex: string): Promise<string> {
    const ask = (offset: number) => this.request(`qXfer:${object}:read:${annex}:${offset.toString(16)},ffb`);
    const check = (r: string): string => {
      if (r === '' || errorReply(r)) throw new GdbStubError(r === '' ? 'unsupported' : 'error-reply', `the gdbstub at ${this.where} cannot send ${object} '${annex}' (${r || 'empty reply'})`);
      if (r[0] !== 'm' && r[0] !== 'l') throw new GdbStubError('protocol', `unexpected qXfer reply '${r.slice(0, 20)}'`);
      if (r[0] === 'm' && r.length === 1) throw new GdbStubError('protocol', `qXfer ${annex}: empty chunk`);
      return r;
    };
    let r = check(await ask(0));
    let text = r.slice(1);
    if (r[0] === 'l') return text;
    const chunk = text.length;
    let ahead = true;
    for (;;) {
      if (!ahead) {
        r = check(await ask(text.length));
        text += r.slice(1);
        if (r[0] === 'l') return text;
        continue;
      }
      const start = text.length;
      const batch = Array.from({ length: XFER_AHEAD }, (_, j) => ask(start + j * chunk));
      for (const p of batch) p.catch(() => undefined); // those past the end are not awaited
      for (let j = 0; j < batch.length; j++) {
        r = check(await batch[j]);
        text += r.slice(1);
        if (r[0] === 'l') return text;
        if (r.length - 1 !== chunk) {
          ahead = false; // chunks of varying length: the offsets asked for ahead are wrong
          break;
        }
      }
    }
  }

  /** QEMU's physical-memory mode (`Qqemu.PhyMemMode`); close() switches a possible 1 back to 0. */
  async setPhyMemMode(on: boolean): Promise<void> {
    if (on) this.phyMemOn = true;
    const r = await this.request(`Qqemu.PhyMemMode:${on ? 1 : 0}`);
    if (r !== 'OK') throw new GdbStubError(r === '' ? 'unsupported' : 'error-reply', `Qqemu.PhyMemMode:${on ? 1 : 0} got '${r}'`);
    if (!on) this.phyMemOn = false;
  }

  /**
   * Ends the session leaving the guest as found: PhyMemMode back to 0 if it may be on (after the
   * requests in flight), then the socket closed without `D`, which would resume the VM; with
   * `resume`, `D` is sent on purpose (QEMU detaches and lets the guest run).
   */
  close(opts: { resume?: boolean } = {}): Promise<void> {
    this.closing ??= (async () => {
      if (this.phyMemOn && !this.dead) {
        try {
          await this.send('Qqemu.PhyMemMode:0'); // queued after the requests in flight
          this.phyMemOn = false;
        } catch {
          /* the connection is gone: the next attach finds and clears the stale mode */
        }
      }
      if (opts.resume && !this.dead) {
        try {
          await this.send('D');
        } catch {
          /* gone already */
        }
      }
      await new Promise<void>((resolve) => {
        if (this.sock.destroyed) return resolve();
        this.sock.once('close', () => resolve());
        this.sock.end();
        setTimeout(() => this.sock.destroy(), 1000).unref();
      });
      this.dead ??= new GdbStubError('closed', `the connection to ${this.where} was closed`);
    })();
    return this.closing;
  }

  /** Drops the connection at once (error paths). */
  destroy(): void {
    this.fail(new GdbStubError('closed', `the connection to ${this.where} was closed`));
  }
}
