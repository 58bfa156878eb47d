// A tiny fake gdbstub on a loopback TCP port, for what a real QEMU cannot be made to do on demand
// (not be QEMU, lack paging registers, nak a packet, hold a reply). Real QEMU guests are used
// everywhere else.
import net from 'node:net';
import { FrameReader, checksum, encodePacket } from '../../src/debug/gdbstub/rsp';

/** An answer sent as given, not escaped (run-length encoded by hand). */
export const RAW = '\u0000raw:';
export const NAK = Symbol('nak') as unknown as string;

type Answer = string | string[] | undefined;

/**
 * A fake stub: `answer` maps each request's data to its reply (undefined: no reply at all; a
 * promise: a reply that comes later, the following ones keeping their order behind it).
 */
export async function fakeStub(answer: (req: string) => Answer | Promise<Answer>, onConnect?: (s: net.Socket) => boolean): Promise<{ port: number; requests: string[]; close(): void }> {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    if (onConnect && !onConnect(s)) return;
    const reader = new FrameReader();
    let chain: Promise<unknown> = Promise.resolve();
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      for (const f of reader.push(d)) {
        if (f.kind !== 'packet') continue;
        const r = answer(f.data);
        if (r === NAK) {
          s.write('-'); // "retransmit, please"
          continue;
        }
        s.write('+');
        requests.push(f.data);
        chain = chain.then(async () => {
          const v = await r;
          if (v === undefined || s.destroyed) return;
          // RAW bodies go out as given (run-length encoded by hand), the rest escaped.
          for (const x of Array.isArray(v) ? v : [v]) s.write(x.startsWith(RAW) ? `$${x.slice(RAW.length)}#${checksum(x.slice(RAW.length))}` : encodePacket(x));
        });
      }
    });
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    requests,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

