// Guest RAM from QEMU's monitor: `info mtree -f` (the flat view of address space "memory") gives
// every RAM range; `gpa2hva` gives each range's host address for the /proc/<pid>/mem path.
// Only RAM is ever read: ROM, I/O and MMIO ranges are left out on purpose.
import type { PhysAddr } from '../core/addr';
import type { RamRange } from '../core/memory';

export interface FlatRamRange extends RamRange {
  /** Name of the memory region ("pc.ram", "riscv_virt_board.ram"). */
  readonly name: string;
}

const LINE = /^\s*([0-9a-f]+)-([0-9a-f]+) \(prio -?\d+, (ram|rom|i\/o|romd|ramd)[^)]*\): (\S+)/i;

/**
 * RAM ranges of the system memory address space (the FlatView whose AS list has "memory").
 * Adjacent pieces of one region stay separate: each is linear in host memory on its own.
 */
export function parseMtreeFlat(text: string): FlatRamRange[] {
  const views = text.split(/^FlatView #\d+/m).slice(1);
  const view = views.find((v) => /AS "memory"/.test(v)) ?? (views.length ? undefined : text);
  if (view === undefined) return [];
  const out: FlatRamRange[] = [];
  for (const line of view.split('\n')) {
    const m = LINE.exec(line);
    if (!m || m[3].toLowerCase() !== 'ram') continue;
    const start = Number(BigInt('0x' + m[1])) as PhysAddr;
    const end = Number(BigInt('0x' + m[2]) + 1n) as PhysAddr;
    out.push({ start, end, name: m[4] });
  }
  return out.sort((a, b) => a.start - b.start);
}

/** Merges touching ranges (for the walker's RAM checks). */
export function mergeRanges(ranges: readonly RamRange[]): RamRange[] {
  const out: RamRange[] = [];
  for (const r of [...ranges].sort((a, b) => a.start - b.start)) {
    const last = out[out.length - 1];
    if (last && r.start <= last.end) out[out.length - 1] = { start: last.start, end: Math.max(last.end, r.end) as PhysAddr, name: last.name };
    else out.push({ start: r.start, end: r.end, name: r.name });
  }
  return out;
}

/** `gpa2hva` answer: "Host virtual address for 0x101000 (pc.ram) is 0x7f5179f01000". */
export function parseGpa2hva(text: string): bigint | undefined {
  const m = /Host virtual address for \S+ \([^)]*\) is (0x[0-9a-f]+)/i.exec(text);
  return m ? BigInt(m[1]) : undefined;
}

/** `info connections` (GDB >= 11): "* 1    remote 127.0.0.1:36781  Remote target …". */
export function parseConnection(text: string): { host: string; port: number } | undefined {
  const m = /\bremote\s+(\[[^\]]+\]|[^\s:]+):(\d+)\b/.exec(text) ?? /\bextended-remote\s+(\[[^\]]+\]|[^\s:]+):(\d+)\b/.exec(text);
  if (!m) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * The gdbstub's line of the monitor's `info chardev` (QEMU 7.2):
 * "gdb: filename=tcp:127.0.0.1:36819,server=on <-> 127.0.0.1:56444" — where it listens and,
 * while a debugger is connected, that debugger's end of the connection.
 */
export function parseChardevGdb(text: string): { host: string; port: number; peer?: { host: string; port: number } } | undefined {
  const m = /^gdb: filename=(?:disconnected:)?tcp:(\[[^\]]*\]|[^:,\s]*):(\d+)[^\n]*?(?:<->\s*(\[[^\]]*\]|[^\s:]+):(\d+))?\s*$/m.exec(text);
  if (!m) return undefined;
  const unbracket = (h: string) => h.replace(/^\[|\]$/g, '');
  return { host: unbracket(m[1]), port: Number(m[2]), ...(m[3] ? { peer: { host: unbracket(m[3]), port: Number(m[4]) } } : {}) };
}

/** Parses `xp /Ngx ADDR` output lines "0000000000101000: 0x0000000000102003 0x…" into bytes. */
export function parseXpQwords(text: string, addr: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const view = new DataView(out.buffer);
  let seen = 0;
  for (const line of text.split('\n')) {
    const m = /^\s*([0-9a-f]+):((?:\s+0x[0-9a-f]+)+)\s*$/i.exec(line);
    if (!m) continue;
    let at = Number(BigInt('0x' + m[1])) - addr;
    for (const w of m[2].trim().split(/\s+/)) {
      if (at >= 0 && at + 8 <= length) {
        view.setBigUint64(at, BigInt(w), true);
        seen += 8;
      }
      at += 8;
    }
  }
  if (seen !== length) throw new Error(`monitor xp returned ${seen} of ${length} bytes`);
  return out;
}
