// Saved walks (`ptview dump --save FILE`): the registers that chose the roots, the guest's RAM
// ranges, and the raw bytes of every table the walk read, so a later `ptview diff` (or any command)
// can walk that stop again, e.g. a live stop compared with a later one. A snapshot holds tables
// only: any other read is refused as 'not-dumped', never answered with zeros.
import { readFile, writeFile } from 'node:fs/promises';
import { PhysAddr, hex, parseAddress, physAddr } from '../addr';
import { arches } from '../arch';
import { Arch } from '../format';
import { MemoryReadError, PhysicalMemory, RamRange, ReadRequest, inRam } from '../memory';
import { CoreFileError } from './coreFile';

export const SNAPSHOT_FORMAT = 'ptview-snapshot';
export const SNAPSHOT_VERSION = 1;

/** The file's JSON shape (documented in docs/cli.md). */
export interface SnapshotFile {
  format: typeof SNAPSHOT_FORMAT;
  version: number;
  arch: Arch;
  /** Where the walk came from (a core's path, a gdbstub address) and when it was saved. */
  source: string;
  saved: string;
  /** Register values, lower-case names, 0x-hex. */
  registers: Record<string, string>;
  /** --root values the walk was made with, if any. */
  roots?: string[];
  ram: Array<{ start: string; end: string; name?: string }>;
  /** Every table read: physical address and base64 bytes. */
  tables: Array<{ pa: string; bytes: string }>;
}

/** Wraps a source and keeps every range read successfully (the tables of a walk). */
export class RecordingMemory implements PhysicalMemory {
  readonly reads = new Map<number, Uint8Array>();
  constructor(readonly inner: PhysicalMemory) {}

  get ram(): readonly RamRange[] {
    return this.inner.ram;
  }

  async read(addr: PhysAddr, length: number, signal?: AbortSignal): Promise<Uint8Array> {
    const b = await this.inner.read(addr, length, signal);
    this.keep(addr, b);
    return b;
  }

  async readMany(reqs: readonly ReadRequest[], signal?: AbortSignal): Promise<(Uint8Array | MemoryReadError)[]> {
    const res = await this.inner.readMany(reqs, signal);
    res.forEach((r, i) => {
      if (!(r instanceof MemoryReadError)) this.keep(reqs[i].addr, r);
    });
    return res;
  }

  private keep(addr: number, b: Uint8Array): void {
    const old = this.reads.get(addr);
    if (!old || old.length < b.length) this.reads.set(addr, new Uint8Array(b));
  }

  snapshot(arch: Arch, registers: ReadonlyMap<string, bigint>, source: string, roots?: readonly string[]): SnapshotFile {
    return {
      format: SNAPSHOT_FORMAT, version: SNAPSHOT_VERSION, arch, source, saved: new Date().toISOString(),
      registers: Object.fromEntries([...registers].map(([k, v]) => [k, hex(v)])),
      ...(roots?.length ? { roots: [...roots] } : {}),
      ram: this.ram.map((r) => ({ start: hex(r.start), end: hex(r.end), ...(r.name ? { name: r.name } : {}) })),
      tables: [...this.reads].sort((a, b) => a[0] - b[0]).map(([pa, b]) => ({ pa: hex(pa), bytes: Buffer.from(b).toString('base64') })),
    };
  }
}

export async function saveSnapshot(path: string, s: SnapshotFile): Promise<void> {
  await writeFile(path, JSON.stringify(s) + '\n');
}

export interface OpenSnapshot {
  arch: Arch;
  registers: Map<string, bigint>;
  roots?: string[];
  source: string;
  saved: string;
  memory: PhysicalMemory & { close(): Promise<void> };
}

/** Reads and checks a snapshot file; errors name the file and the field. */
export async function openSnapshot(path: string): Promise<OpenSnapshot> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CoreFileError(`cannot read snapshot ${path}: ${(e as Error).message}`);
  }
  const bad = (why: string) => new CoreFileError(`${path} is not a ptview snapshot: ${why}`);
  let j: SnapshotFile;
  try {
    j = JSON.parse(text) as SnapshotFile;
  } catch {
    throw bad('not JSON (write one with ptview dump --save FILE)');
  }
  if (j?.format !== SNAPSHOT_FORMAT) throw bad(`"format" is not "${SNAPSHOT_FORMAT}"`);
  if (j.version !== SNAPSHOT_VERSION) throw bad(`version ${String(j.version)}; this ptview reads version ${SNAPSHOT_VERSION}`);
  if (!arches().includes(j.arch)) throw bad(`unknown arch ${String(j.arch)}`);
  const num = (s: unknown, what: string): number => {
    try {
      return physAddr(parseAddress(String(s), what));
    } catch (e) {
      throw bad(`${what}: ${(e as Error).message}`);
    }
  };
  const registers = new Map<string, bigint>();
  for (const [k, v] of Object.entries(j.registers ?? {})) {
    try {
      registers.set(k.toLowerCase(), parseAddress(String(v), `register ${k}`));
    } catch (e) {
      throw bad((e as Error).message);
    }
  }
  if (!Array.isArray(j.ram) || !Array.isArray(j.tables)) throw bad('"ram" and "tables" must be arrays');
  const ram: RamRange[] = j.ram.map((r, i) => ({ start: physAddr(num(r.start, `ram[${i}].start`)), end: physAddr(num(r.end, `ram[${i}].end`)), name: r.name }));
  const tables = new Map<number, Uint8Array>();
  j.tables.forEach((t, i) => tables.set(num(t.pa, `tables[${i}].pa`), new Uint8Array(Buffer.from(String(t.bytes), 'base64'))));
  const read = async (addr: PhysAddr, length: number): Promise<Uint8Array> => {
    if (!inRam(ram, addr, length)) throw new MemoryReadError(addr, length, 'outside-ram');
    const t = tables.get(addr);
    if (t && t.length >= length) return t.subarray(0, length);
    throw new MemoryReadError(addr, length, 'not-dumped', 'the snapshot holds the tables its walk read, not this range');
  };
  const memory = {
    ram,
    read,
    readMany: (reqs: readonly ReadRequest[]) => Promise.all(reqs.map((r) => read(r.addr, r.length).catch((e: unknown) => (e instanceof MemoryReadError ? e : Promise.reject(e))))),
    close: async () => undefined,
  };
  return { arch: j.arch, registers, roots: j.roots, source: String(j.source ?? ''), saved: String(j.saved ?? ''), memory };
}
