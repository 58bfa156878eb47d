// A raw physical memory image (e.g. QEMU `pmemsave`) loaded at a base physical address.
import fs from 'node:fs/promises';
import { PhysAddr, physAddr } from '../addr';
import { MemoryReadError, PhysicalMemory, ReadRequest, inRam } from '../memory';
import { CoreFileError } from './elfCore';

export async function openRawImage(path: string, base: number): Promise<PhysicalMemory & { close(): Promise<void> }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, 'r');
  } catch (e) {
    throw new CoreFileError(`cannot open raw image ${path}: ${(e as Error).message}`);
  }
  const size = (await fh.stat()).size;
  const ram = [{ start: physAddr(base), end: physAddr(base + size), name: 'raw' }];
  const read = async (addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> => {
    signal?.throwIfAborted();
    if (!inRam(ram, addr, length)) throw new MemoryReadError(addr, length, 'outside-ram', 'outside the raw image');
    const buf = Buffer.alloc(length);
    const { bytesRead } = await fh.read(buf, 0, length, addr - base);
    return buf.subarray(0, bytesRead);
  };
  const readMany = (reqs: readonly ReadRequest[], signal?: AbortSignal) =>
    Promise.all(reqs.map((r) => read(r.addr, r.length, signal).catch((e: unknown) => (e instanceof MemoryReadError ? e : Promise.reject(e)))));
  return { ram, read, readMany, close: () => fh.close() };
}
