// Opening core files safely: only regular files are read (a FIFO would block the reader forever,
// a device could have side effects on open or read, a directory has no bytes), and every read is
// positional and bounds-checked against the file size, so a hostile header can never make us
// allocate or read more than the file holds.

import fs from 'node:fs/promises';
import { constants } from 'node:fs';

export class CoreFileError extends Error {
  override name = 'CoreFileError';
}

/** Largest byte count ptview reads in one piece from a core's metadata (notes, descriptors). */
export const MAX_METADATA_BYTES = 64 * 1024 * 1024;

export interface CoreFileHandle {
  readonly path: string;
  readonly size: number;
  /** Exactly `length` bytes at `offset`, or a CoreFileError naming `what` when the file ends first. */
  readExact(offset: number, length: number, what: string): Promise<Buffer>;
  /** Up to `length` bytes (fewer at the end of the file). */
  readUpTo(offset: number, length: number): Promise<Buffer>;
  close(): Promise<void>;
}

function kindOf(st: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string | undefined {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  return undefined;
}

/**
 * Opens `path` for reading if it is a regular file. stat() first so a device is never opened;
 * the open itself uses O_NONBLOCK, so if the path is swapped for a FIFO in between, the open does
 * not wait for a writer, and the fstat() after it refuses the FIFO before any read.
 */
export async function openRegularFile(path: string, label = 'core file'): Promise<CoreFileHandle> {
  let st;
  try {
    st = await fs.stat(path);
  } catch (e) {
    throw new CoreFileError(`cannot open ${label} ${path}: ${(e as Error).message}`);
  }
  const bad = kindOf(st);
  if (bad) throw new CoreFileError(`${path} is ${bad}, not a ${label}: ptview reads regular files only`);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    throw new CoreFileError(`cannot open ${label} ${path}: ${(e as Error).message}`);
  }
  const fst = await fh.stat();
  const bad2 = kindOf(fst);
  if (bad2 || !fst.isFile()) {
    await fh.close();
    throw new CoreFileError(`${path} is ${bad2 ?? 'not a regular file'}, not a ${label}: ptview reads regular files only`);
  }
  const size = fst.size;
  const readUpTo = async (offset: number, length: number): Promise<Buffer> => {
    if (offset >= size || length <= 0) return Buffer.alloc(0);
    const n = Math.min(length, size - offset);
    const buf = Buffer.alloc(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await fh.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return buf.subarray(0, got);
  };
  return {
    path,
    size,
    readUpTo,
    readExact: async (offset, length, what) => {
      if (!Number.isSafeInteger(offset) || offset < 0 || !Number.isSafeInteger(length) || length < 0 || offset + length > size) {
        throw new CoreFileError(`${path}: ${what} (${length} bytes at offset ${offset}) runs past the end of the file (${size} bytes)`);
      }
      if (length > MAX_METADATA_BYTES) throw new CoreFileError(`${path}: ${what} is ${length} bytes, more than the ${MAX_METADATA_BYTES} ptview reads in one piece`);
      const b = await readUpTo(offset, length);
      if (b.length < length) throw new CoreFileError(`${path}: ${what} is cut short: the file shrank while being read`);
      return b;
    },
    close: () => fh.close(),
  };
}

/** A 64-bit file value as a safe Number, or a CoreFileError naming the field. */
export function safeNumber(v: bigint, field: string, path: string): number {
  if (v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new CoreFileError(`${path}: ${field} = 0x${v.toString(16)} is out of range (above 2^53, larger than any file or physical address ptview handles)`);
  }
  return Number(v);
}
