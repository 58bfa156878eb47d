// A raw physical memory image (e.g. QEMU `pmemsave`) loaded at a base physical address.
import { PhysAddr, physAddr } from '../addr';
import { MemoryReadError, PhysicalMemory, ReadRequest, inRam } from '../memory';
import { openRegularFile } from './coreFile';

export async function openRawImage(path: string, base: number): Promise<PhysicalMemory & { close(): Promise<void> }> {
  const f = await openRegularFile(path, 'raw image');
  const ram = [{ start: physAddr(base), end: physAddr(base + f.size), name: 'raw' }];
  const read = async (addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> => {
    signal?.throwIfAborted();
    if (!inRam(ram, addr, length)) throw new MemoryReadError(addr, length, 'outside-ram', 'outside the raw image');
    return f.readUpTo(addr - base, length);
  };
  const readMany = (reqs: readonly ReadRequest[], signal?: AbortSignal) =>
    Promise.all(reqs.map((r) => read(r.addr, r.length, signal).catch((e: unknown) => (e instanceof MemoryReadError ? e : Promise.reject(e)))));
  return { ram, read, readMany, close: () => f.close() };
}
