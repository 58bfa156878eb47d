// ptview: page tables of QEMU guests from the command line (offline cores, raw images, or a
// live guest through QEMU's gdbstub, or GDB with --via gdb). Formatting lives here; every answer
// comes from src/core. The --gdb path loads only what it uses (node's start-up is part of every
// command's time): GDB's adapter and its DAP client only with --via gdb.

import { Command, Option } from 'commander';
import { AddressSyntaxError, hex, parseNumber, sizeLabel } from '../core/addr';
import { Arch } from '../core/format';
import { archModule, arches } from '../core/arch';
import { spaceFromRegisters } from '../core/formats';
import { MemoryReadError, PhysicalMemory } from '../core/memory';
import { AuditReport, Finding } from '../core/ops/audit';
import { EditError } from '../core/edit/codecs';
import { rightsLetters, rightsString } from '../core/ops/explain';
import { regionLabeler } from '../core/ops/regions';
import { FilterError, FilterSpec, parseFilters, parseRange } from '../core/ops/filter';
import { ExpansionError, FoldLimitError } from '../core/graph';
import { RangeMerger } from '../core/ops/merge';
import { foldRepeats, repeatText } from '../core/ops/repeats';
import { rangeJsonLine, rangeRecord, translationRecord } from '../core/ops/records';
import { PageTableSession } from '../core/ops/session';
import { TranslateError, Translation } from '../core/ops/translate';
import { CoreFileError, QemuCore, coreRegisters, openCore } from '../core/sources';
import { rootsFromVmcoreinfo } from '../core/sources/vmcoreinfo';
import { RecordingMemory, openSnapshot, saveSnapshot } from '../core/sources/snapshot';
import { Leaf, loadTables } from '../core/walker';
import { LeafLines } from './jsonLines';
import { packageVersion } from './version';
import { DiffError } from '../core/ops/diff';
import { openRawImage } from '../core/sources/raw';
import { AddressSpace, RegisterError } from '../core/space';
import { LiveAccessError, LiveTarget, StrategyName } from '../debug/api';
import { GdbStubError } from '../debug/gdbstub/client';
import { GdbAttachError, parseHostPort } from '../debug/hostPort';

/** Exit codes (documented in docs/cli.md). */
export const EXIT = { ok: 0, notFound: 1, usage: 2, input: 3, internal: 70 } as const;

class UsageError extends Error {}

interface Common {
  core?: string;
  raw?: string;
  snapshot?: string;
  base?: string;
  gdb?: string;
  reg: string[];
  arch?: string;
  root?: string[];
  json?: boolean;
  stats?: boolean;
  strategy?: string;
  directMap?: string;
  cpu?: string;
  listCpus?: boolean;
  via?: string;
  resume?: boolean;
}

/** find lists at most this many VAs (the rest are counted). */
const FIND_MAX = 100_000;

const STRATEGIES: StrategyName[] = ['proc-mem', 'phymem-mode', 'monitor-xp', 'direct-map'];

interface Target {
  space: AddressSpace;
  session: PageTableSession;
  warnings: string[];
  /** The registers the address space was built from (what `dump --save` keeps). */
  registers: ReadonlyMap<string, bigint>;
  /** Where the walk comes from, for snapshots and diffs. */
  source: string;
  /** Live targets: what the transport cost (for --stats). */
  live?: LiveTarget;
  phases?: Record<string, number>;
  close(): Promise<void>;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function parseRegs(list: string[], arch: Arch): Map<string, bigint> {
  const names = archModule(arch).registerNames;
  const out = new Map<string, bigint>();
  for (const item of list) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)=(.+)$/.exec(item);
    if (!m) throw new UsageError(`invalid --reg '${item}': expected NAME=VALUE, e.g. --reg EFER=0xd01`);
    const name = m[1].toLowerCase();
    if (!names.includes(name)) {
      throw new UsageError(`unknown register '${m[1]}' for ${arch}; known: ${names.map((n) => n.toUpperCase()).join(', ')}`);
    }
    out.set(name, parseNumber(m[2], `value of ${m[1]}`));
  }
  return out;
}

/** The CPU chosen with --cpu (default CPU 0). */
function cpuIndex(core: QemuCore, o: Common): number {
  if (o.cpu === undefined) return 0;
  const i = Number(o.cpu);
  if (!Number.isInteger(i) || i < 0) throw new UsageError(`invalid --cpu '${o.cpu}': expected a CPU index (0, 1, …)`);
  if (i >= core.cpus.length) throw new UsageError(`--cpu ${i}: the core holds ${core.cpus.length} CPU(s) (see --list-cpus)`);
  return i;
}

async function openTarget(o: Common): Promise<Target> {
  const sources = [o.core, o.raw, o.gdb, o.snapshot].filter(Boolean).length;
  if (sources !== 1) throw new UsageError('give exactly one of --core FILE, --raw FILE --base PA, --snapshot FILE or --gdb HOST:PORT');
  if (o.arch && !arches().includes(o.arch as Arch)) throw new UsageError(`unknown --arch '${o.arch}' (use ${arches().join(', ')})`);
  let memory: PhysicalMemory & { close(): Promise<void> };
  let arch: Arch;
  let regs = new Map<string, bigint>();
  const warnings: string[] = [];
  if (o.core) {
    const core = await openCore(o.core);
    if (o.arch && o.arch !== core.arch) {
      await core.close();
      throw new CoreFileError(`--arch ${o.arch} does not match the core, which is ${core.arch}`);
    }
    arch = core.arch;
    memory = core.memory;
    try {
      const r = coreRegisters(core, cpuIndex(core, o), parseRegs(o.reg, arch));
      regs = r.registers;
      warnings.push(...core.warnings, ...r.notes);
    } catch (e) {
      await core.close();
      throw e;
    }
  } else if (o.snapshot) {
    const snap = await openSnapshot(o.snapshot);
    if (o.arch && o.arch !== snap.arch) throw new CoreFileError(`--arch ${o.arch} does not match the snapshot, which is ${snap.arch}`);
    arch = snap.arch;
    memory = snap.memory;
    regs = snap.registers;
    if (!o.root?.length && snap.roots?.length) o = { ...o, root: snap.roots };
    warnings.push(`snapshot of ${snap.source || 'an unnamed source'} saved ${snap.saved}`);
  } else if (o.raw) {
    if (!o.arch) throw new UsageError('--raw needs --arch (the image carries no machine type)');
    if (!o.base) throw new UsageError('--raw needs --base PA (the physical address of the image\'s first byte)');
    arch = o.arch as Arch;
    const base = parseNumber(o.base, '--base');
    if (base >= 1n << 52n || base % 4096n !== 0n) throw new UsageError(`--base ${o.base}: a physical address below 2^52, 4 KiB-aligned`);
    memory = await openRawImage(o.raw, Number(base));
  } else {
    return openGdbTarget(o);
  }
  try {
    for (const [k, v] of parseRegs(o.reg, arch)) regs.set(k, v);
    const space = spaceFromRegisters(arch, regs, { roots: o.root?.length ? o.root : undefined });
    const source = o.core ?? o.snapshot ?? o.raw!;
    return { space, session: new PageTableSession(space, memory), warnings: [...warnings, ...space.notes], registers: regs, source, close: () => memory.close() };
  } catch (e) {
    await memory.close();
    throw e;
  }
}

/** The live target's registers (with --reg overrides) as the core's address space. */
function liveSpace(o: Common, live: LiveTarget): { space: AddressSpace; registers: Map<string, bigint> } {
  if (o.arch && o.arch !== live.arch) throw new UsageError(`--arch ${o.arch} does not match the target, which is ${live.arch}`);
  const regs = new Map(live.registers);
  for (const [k, v] of parseRegs(o.reg, live.arch)) regs.set(k, v);
  return { space: spaceFromRegisters(live.arch, regs, { roots: o.root?.length ? o.root : undefined }), registers: regs };
}

/**
 * --gdb HOST:PORT: ptview's own client on QEMU's gdbstub (src/debug/gdbstub), or with --via gdb
 * GDB under cdt-gdb-adapter; both attach without resuming the guest and read through the same
 * strategies. --reg values override what the target reports.
 */
async function openGdbTarget(o: Common): Promise<Target> {
  if (o.strategy && !STRATEGIES.includes(o.strategy as StrategyName)) throw new UsageError(`unknown --strategy '${o.strategy}' (use ${STRATEGIES.join(', ')})`);
  const via = o.via ?? 'gdbstub';
  if (via !== 'gdbstub' && via !== 'gdb') throw new UsageError(`unknown --via '${o.via}' (use gdbstub or gdb)`);
  if (o.resume && via === 'gdb') throw new UsageError('--resume works with ptview\'s own gdbstub client only (without --via gdb)');
  const directMapOffset = o.directMap !== undefined ? parseNumber(o.directMap, '--direct-map') : undefined;
  try {
    parseHostPort(o.gdb!);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const liveOptions = { strategy: o.strategy as StrategyName | undefined, directMapOffset };
  return via === 'gdb' ? openViaGdb(o, liveOptions) : openViaStub(o, liveOptions);
}

/**
 * A live target's Target, whichever way it was reached. How it was reached (the strategy and the
 * connection) is shown with --stats only; the strategies' notes (one not used and why, RAM
 * unknown) always.
 */
function liveTarget(o: Common, live: LiveTarget, how: { through: string; source: string; phases: Record<string, number>; close: () => Promise<void> }): Target {
  const { space, registers } = liveSpace(o, live);
  const notes = [...live.strategyNotes, ...space.notes];
  return {
    space,
    session: new PageTableSession(space, live.memory),
    warnings: o.stats ? [`live target through ${how.through}: strategy ${live.strategy}`, live.connection, ...notes] : notes,
    registers,
    source: how.source,
    live,
    phases: how.phases,
    close: how.close,
  };
}

async function openViaStub(o: Common, liveOptions: { strategy?: StrategyName; directMapOffset?: bigint }): Promise<Target> {
  const { openStubTarget } = await import('../debug/gdbstub/session');
  const t0 = performance.now();
  const stub = await openStubTarget(o.gdb!, liveOptions);
  const phases: Record<string, number> = { attach: stub.attachMs, open: performance.now() - t0 - stub.attachMs };
  // Ctrl-C mid-walk: PhyMemMode back to 0 and the connection closed (guest still paused) first.
  const onSignal = (sig: NodeJS.Signals) => {
    process.stderr.write(`ptview: ${sig}: switching PhyMemMode back and closing the gdbstub connection\n`);
    // The client itself, not the target: PhyMemMode:0 goes out at once, queued behind the reads
    // in flight (the stub answers in order), without waiting for the walk to notice.
    void stub.client.close().finally(() => process.exit(sig === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const close = async () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await stub.close({ resume: o.resume });
  };
  try {
    return liveTarget(o, stub.target, { through: "ptview's gdbstub client", source: `gdbstub ${o.gdb}`, phases, close });
  } catch (e) {
    await close();
    throw e;
  }
}

async function openViaGdb(o: Common, liveOptions: { strategy?: StrategyName; directMapOffset?: bigint }): Promise<Target> {
  const [{ attachGdb }, { openLiveTarget }] = await Promise.all([import('../debug/gdbAttach'), import('../debug')]);
  const t0 = performance.now();
  const gdb = await attachGdb(o.gdb!);
  const phases: Record<string, number> = { attach: performance.now() - t0 };
  let live: LiveTarget | undefined;
  try {
    live = await openLiveTarget(gdb.channel, gdb.observer, liveOptions);
    const target = live;
    const close = async () => {
      try {
        await target.dispose();
      } finally {
        await gdb.close();
      }
    };
    return liveTarget(o, live, { through: `${gdb.gdb} + cdt-gdb-adapter`, source: `gdb ${o.gdb}`, phases, close });
  } catch (e) {
    try {
      await live?.dispose();
    } finally {
      await gdb.close();
    }
    throw e;
  }
}

function filterSpec(o: Record<string, unknown>): FilterSpec {
  return {
    words: (o.filter as string[] | undefined) ?? [],
    va: o.va as string | undefined,
    pa: o.pa as string | undefined,
    pageSize: o.pageSize as string | undefined,
    half: o.half as string | undefined,
  };
}

/** The reader of stdout went away (EPIPE, e.g. `| head -1`): stop quietly, exit 0. */
class OutputClosed extends Error {}

/**
 * stdout in large chunks (one write per ~1 MiB buffer, not per line; leaf lines are written into
 * the buffer as bytes), waiting for 'drain' where the command can wait (between parts of a
 * walk), and quiet when the reader closes the pipe.
 */
class Output {
  /** Also the walk's SubtreeRecorder for `dump --leaves --json`. */
  readonly lines: LeafLines;
  private full = false;
  closed = false;

  constructor(private readonly stream: NodeJS.WriteStream) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE' || e.code === 'ERR_STREAM_DESTROYED') this.closed = true;
      else throw e;
    });
    // stdout to a pipe is asynchronous in Node on Linux: during a synchronous walk every chunk
    // stayed queued in memory until the walk ended (23 MiB of fresh pages for a Debian x86_64
    // kernel's leaves, ~20 ms of page faults). Blocking writes, as a C program's stdout and as
    // Node's own stdout to a file or terminal, let each buffer be filled again at once (a cold
    // `dump --leaves --json | …`: 175 -> 154 ms of CPU on x86_64, 161 -> 142 on arm64). The pipe
    // handle's setBlocking is libuv's uv_stream_set_blocking (what Node does for pipes on Windows);
    // no maintained package wraps it.
    if ((stream as { _type?: string })._type === 'pipe') (stream as unknown as { _handle?: { setBlocking?(b: boolean): number } })._handle?.setBlocking?.(true);
    // The stream may still keep a chunk until it is written: LeafLines fills it again only when
    // nothing of it is left queued.
    this.lines = new LeafLines((chunk) => {
      if (this.closed) return true;
      if (!this.stream.write(chunk)) this.full = true;
      return this.stream.writableLength === 0;
    });
  }

  line(text: string): void {
    if (this.closed) throw new OutputClosed();
    this.lines.line(text);
  }

  /** One `dump --leaves --json` line. */
  leaf(l: Leaf): void {
    if (this.closed) throw new OutputClosed();
    this.lines.leaf(l);
  }

  private flush(): void {
    if (!this.closed) this.lines.flush();
  }

  /** Writes what is buffered and waits until the stream takes more (or the reader is gone). */
  async drain(): Promise<void> {
    this.flush();
    if (this.full && !this.closed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          this.stream.off('drain', done);
          this.stream.off('close', done);
          resolve();
        };
        this.stream.on('drain', done);
        this.stream.on('close', done);
      });
      this.full = false;
    }
    // Let a pending EPIPE 'error' event arrive before the next write.
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (this.closed) throw new OutputClosed();
  }
}

let stdout: Output | undefined;
function out(line: string): void {
  (stdout ??= new Output(process.stdout)).line(line);
}

function outLeaf(l: Leaf): void {
  (stdout ??= new Output(process.stdout)).leaf(l);
}

/** stderr warnings, each distinct one once, as they arrive (not collected, then deduplicated). */
function warner(): (message: string) => void {
  const seen = new Set<string>();
  return (m) => {
    if (seen.has(m)) return;
    seen.add(m);
    process.stderr.write(`warning: ${m}\n`);
  };
}

function rootHeader(space: AddressSpace, name: string): string {
  const r = space.roots.find((x) => x.name === name)!;
  const info = r.info.map(([k, v]) => `${k} ${v}`).join(', ');
  return `---[ ${r.name} @ ${hex(r.tablePa)}${info ? ` (${info})` : ''} ]---`;
}

/** --list-cpus: what the core holds (format, CPUs and their registers, VMCOREINFO's root). */
async function listCpus(o: Common): Promise<void> {
  if (!o.core) throw new UsageError('--list-cpus needs --core FILE');
  const core = await openCore(o.core);
  try {
    const regText = (m: ReadonlyMap<string, bigint>) => Object.fromEntries([...m].map(([k, v]) => [k, hex(v)]));
    const root = core.vmcoreinfo === undefined ? undefined : rootsFromVmcoreinfo(core.arch, core.vmcoreinfo);
    const vmRoot = root === undefined ? undefined : 'missing' in root ? `none: ${root.missing}` : root.note;
    if (o.json) {
      out(JSON.stringify({
        path: core.path, format: core.format, arch: core.arch,
        cpus: core.cpus.map((c) => ({ index: c.index, pid: c.pid, registers: regText(c.registers) })),
        vmcoreinfo: core.vmcoreinfo !== undefined, vmcoreinfoRoot: vmRoot, warnings: core.warnings,
      }, null, 2));
    } else {
      out(`${core.path}: ${core.format} core, ${core.arch}, ${core.cpus.length} CPU(s)${core.vmcoreinfo !== undefined ? ', VMCOREINFO' : ''}`);
      for (const c of core.cpus) {
        out(`CPU ${c.index}${c.pid !== undefined ? ` (pr_pid ${c.pid})` : ''}:`);
        const items = [...c.registers].map(([k, v]) => `${k}=${hex(v)}`);
        for (let i = 0; i < items.length; i += 6) out(`  ${items.slice(i, i + 6).join(' ')}`);
      }
      if (vmRoot) out(`VMCOREINFO ${vmRoot}`);
      for (const w of core.warnings) process.stderr.write(`note: ${w}\n`);
    }
    process.exitCode = EXIT.ok;
  } finally {
    await core.close();
  }
}

/** What the finished command was (`dump:gdbstub`): the code cache of ../cli.ts is kept per kind. */
let completed: string | undefined;

/** The command that ran to completion in this process, if any (`${command}:${source}`). */
export function cacheKind(): string | undefined {
  return completed;
}

async function withTarget(o: Common, fn: (t: Target) => Promise<number>): Promise<void> {
  if (o.listCpus) return listCpus(o);
  const t0 = performance.now();
  const t = await openTarget(o);
  const kind = `${process.argv[2]}:${o.gdb ? (o.via ?? 'gdbstub') : o.core ? 'core' : o.snapshot ? 'snapshot' : 'raw'}`;
  try {
    for (const w of t.warnings) process.stderr.write(`note: ${w}\n`);
    const w0 = performance.now();
    let walkDap = 0;
    if (t.live) {
      walkDap = t.live.stats.dapRequests;
    }
    process.exitCode = await fn(t);
    await stdout?.drain();
    if (o.stats) {
      const s = t.session.stats;
      const walkMs = performance.now() - w0;
      process.stderr.write(`stats: ${s.tablesRead} tables read, ${s.bytesRead} bytes, ${s.readBatches} read batches, ${(performance.now() - t0).toFixed(1)} ms\n`);
      if (t.live) {
        const l = t.live.stats;
        // `start`: from the process's start to the command (node itself and loading ptview).
        const ph = { start: t0, ...t.phases, ...l.phases, walk: walkMs };
        const unit = t.live.dialect === 'gdbstub' ? 'gdbstub packets' : 'DAP requests';
        process.stderr.write(
          `stats: live ${t.live.arch} via ${t.live.dialect}, strategy ${t.live.strategy}: ${l.dapRequests} ${unit} (${l.dapRequests - walkDap} during the walk, ${l.errorResponses} answered with an error), ` +
            `${l.reads} physical reads, ${l.bytesRead} bytes, ${l.cacheHits} cache hits\n`,
        );
        process.stderr.write(`stats: ms per phase: ${Object.entries(ph).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}\n`);
      }
    }
    completed = kind;
  } finally {
    await t.close();
  }
}

async function cmdDump(o: Common & Record<string, unknown>): Promise<void> {
  const filter = parseFilters(filterSpec(o));
  await withTarget(o, async (t) => {
    const { space } = t;
    // --save: every table of every root goes through a recorder first (the dump then walks the
    // same loaded tables, so a live target is read once).
    const recorder = o.save ? new RecordingMemory(t.session.memory) : undefined;
    const session = recorder ? new PageTableSession(space, recorder) : t.session;
    if (recorder) {
      await loadTables(space.roots, session.store);
      await saveSnapshot(String(o.save), recorder.snapshot(space.arch, t.registers, t.source, o.root));
      process.stderr.write(`note: saved ${recorder.reads.size} tables to ${String(o.save)}\n`);
    }
    const warn = warner();
    if (o.leaves) {
      let lastRoot = '';
      await session.forEachLeaf((l) => {
        if (o.json) return outLeaf(l);
        if (l.root.name !== lastRoot) out(rootHeader(space, (lastRoot = l.root.name)));
        const va = BigInt(l.root.toVirt(l.linear));
        out(`${hex(va, 16)}-${hex(va + BigInt(l.size), 16)} ${sizeLabel(l.size).padStart(5)} ${l.root.format.flagString(l.lo, l.hi, l.level, l.perms)} ${l.root.format.levels[l.level].name.padEnd(4)} -> ${hex(l.pa)}`);
      }, { filter, between: () => stdout?.drain() ?? Promise.resolve(), repeats: o.json ? (stdout ??= new Output(process.stdout)).lines : undefined }, (d) => warn(d.message));
    } else {
      let ranges;
      if (filter.empty) ranges = await session.ranges({ requirePaContiguous: Boolean(o.paContiguous) }, (d) => warn(d.message));
      else {
        const merger = new RangeMerger({ requirePaContiguous: Boolean(o.paContiguous) });
        await session.forEachLeaf((l) => merger.push(l), { filter }, (d) => warn(d.message));
        ranges = foldRepeats(merger.finish());
      }
      let lastRoot = '';
      let n = 0;
      // Linux region names (text only), recognised from the whole space's ranges.
      const labels = o.json ? undefined : regionLabeler(space, filter.empty ? ranges : await session.ranges({}, () => undefined), session.memory.ram);
      if (labels) process.stderr.write(`note: layout ${labels.layout}: region names recognised from the tables\n`);
      for (const r of ranges) {
        if (++n % 65536 === 0) await stdout?.drain();
        if (o.json) {
          out(rangeJsonLine(r));
          continue;
        }
        if (r.root.name !== lastRoot) out(rootHeader(space, (lastRoot = r.root.name)));
        const rec = rangeRecord(r);
        const f = r.root.format;
        const region = labels?.(r.start, r.root);
        out(`${rec.va.padEnd(18)}-${rec.end.padEnd(18)} ${sizeLabel(r.end - r.start).padStart(6)} ${rightsString(r.perms)} ${f.memTypes[r.memType].padEnd(4)} ${f.levels[r.level].name.padEnd(4)} -> ${rec.pa}${r.paContiguous ? '' : ' (scattered)'}${repeatText(r)}${region ? `  [${region}]` : ''}`);
      }
    }
    return EXIT.ok;
  });
}

function printTranslation(t: Translation): void {
  out(`${t.va} via ${t.root}:`);
  for (const s of t.trace) {
    const a = s.allowedAfter;
    const b = (v: boolean, c: string) => (v ? c : '-');
    out(`  ${s.levelName.padEnd(5)}[${String(s.index).padStart(3)}] @ ${hex(s.entryPa)} = ${s.raw}  ${s.kind}${s.kind === 'table' ? `  (still allowed: ${b(a.read, 'r')}${b(a.write, 'w')}${b(a.exec, 'x')} ${b(a.userRead, 'r')}${b(a.userWrite, 'w')}${b(a.userExec, 'x')})` : ''}`);
  }
  if (t.kind === 'mapped') {
    const r = t.rights!;
    out(`  => ${hex(t.pa!)}  (${sizeLabel(t.size!)} page at ${t.pageVa}, ${t.memType})`);
    const yn = (v: boolean) => (v ? 'yes' : 'no');
    out(`  rights: privileged read ${yn(r.read)}, write ${yn(r.write)}, exec ${yn(r.exec)}; user read ${yn(r.userRead)}, write ${yn(r.userWrite)}, exec ${yn(r.userExec)}`);
    for (const p of t.provenance ?? []) out(`  no ${p.permName}: ${p.because} (${p.levelName}[${p.index}])`);
  } else out(`  => ${t.message}`);
}

async function cmdTranslate(vaText: string, o: Common): Promise<void> {
  const va = parseNumber(vaText, 'virtual address');
  await withTarget(o, async ({ session }) => {
    const t = await session.translate(va, { root: o.root?.[0] });
    if (o.json) out(JSON.stringify(translationRecord(t), null, 2));
    else printTranslation(t);
    return t.kind === 'mapped' ? EXIT.ok : EXIT.notFound;
  });
}

async function cmdFind(paText: string, o: Common): Promise<void> {
  const [lo, hi] = parseRange(paText, 'physical address');
  if (hi > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`physical address ${paText} is above 2^53 (no supported format has such addresses)`);
  await withTarget(o, async ({ session }) => {
    // Shared subtrees can map one frame at astronomically many VAs: count them on the graph,
    // list at most FIND_MAX.
    const total = await session.countAliases([Number(lo), Number(hi)]);
    const aliases = await session.aliases([Number(lo), Number(hi)], { max: FIND_MAX });
    if (o.json) for (const a of aliases) out(JSON.stringify(a));
    else {
      if (aliases.length === 0) out(`no virtual address maps ${hex(lo)}`);
      for (const a of aliases) out(`${a.vaOfPa.padEnd(18)} ${a.root.padEnd(10)} ${sizeLabel(a.size).padStart(5)} page ${a.va} -> ${a.pa}  ${rightsLetters(a)} ${a.level}`);
    }
    if (total > aliases.length) process.stderr.write(`note: ${total.toLocaleString('en-US')} VAs map it (shared subtrees); the first ${aliases.length} are shown\n`);
    return aliases.length ? EXIT.ok : EXIT.notFound;
  });
}

/**
 * Findings as text; the summary line is printed separately, and the writable aliases of one
 * executable range share a line (a direct map and its mirrors otherwise repeat it per alias).
 */
function auditLines(findings: readonly Finding[]): string[] {
  const lines: string[] = [];
  for (let i = 0; i < findings.length; i++) {
    const f = findings[i];
    const head = `${f.severity.padEnd(7)} ${f.kind.padEnd(22)} `;
    if (f.kind === 'w+x-check') continue;
    if (f.kind !== 'writable-alias-of-exec' || !f.aliasVa) {
      lines.push(head + f.message);
      continue;
    }
    const group = [f];
    while (findings[i + 1]?.kind === 'writable-alias-of-exec' && findings[i + 1].va === f.va && findings[i + 1].end === f.end && findings[i + 1].root === f.root) group.push(findings[++i]);
    if (group.length === 1) {
      lines.push(head + f.message);
      continue;
    }
    const len = Number(BigInt(f.end!) - BigInt(f.va!));
    const at = group.map((g) => (g.aliasRoot && g.aliasRoot !== g.root ? `${g.aliasVa} (${g.aliasRoot})` : g.aliasVa)).join(', ');
    lines.push(`${head}executable ${f.va}-${f.end} ${sizeLabel(len)} is also writable at ${group.length} VAs: ${at}`);
  }
  return lines;
}

async function cmdAudit(o: Common): Promise<void> {
  await withTarget(o, async ({ session }) => {
    const r: AuditReport = await session.audit();
    if (o.json) {
      out(JSON.stringify({ summary: r.summary, leaves: r.leaves, findings: r.findings }, null, 2));
    } else {
      out(r.summary);
      for (const line of auditLines(r.findings)) out(line);
      out(`${r.leaves} leaves checked, ${r.findings.filter((f) => f.severity === 'error').length} errors, ${r.findings.filter((f) => f.severity === 'warning').length} warnings`);
    }
    return EXIT.ok;
  });
}

interface DiffCli {
  core: string[];
  raw: string[];
  snapshot: string[];
  gdb?: string;
  cpu?: string;
  base?: string;
  arch?: string;
  reg: string[];
  newReg: string[];
  root: string[];
  flushCeiling?: string;
  json?: boolean;
  stats?: boolean;
}

/**
 * `ptview diff`: two sources, OLD then NEW. Two of one kind are taken in the order given; mixed
 * kinds in the order snapshot, core, raw image, live (a saved walk is the older one).
 */
async function cmdDiff(o: DiffCli): Promise<void> {
  const sides: Common[] = [
    ...o.snapshot.map((snapshot) => ({ snapshot })),
    ...o.core.map((core) => ({ core })),
    ...o.raw.map((raw) => ({ raw })),
    ...(o.gdb ? [{ gdb: o.gdb }] : []),
  ].map((src) => ({ reg: o.reg, root: o.root, arch: o.arch, base: o.base, cpu: o.cpu, ...src }));
  if (sides.length !== 2) throw new UsageError(`ptview diff compares two walks: give two of --core, --raw, --snapshot (OLD then NEW), or one of them and --gdb (got ${sides.length})`);
  const ceiling = o.flushCeiling === undefined ? undefined : Number(parseNumber(o.flushCeiling, '--flush-ceiling'));
  const old = await openTarget(sides[0]);
  try {
    const now = await openTarget({ ...sides[1], reg: [...o.reg, ...o.newReg] });
    try {
      for (const w of new Set([...old.warnings.map((w) => `old: ${w}`), ...now.warnings.map((w) => `new: ${w}`)])) process.stderr.write(`note: ${w}\n`);
      const { runDiff } = await import('./diff');
      process.exitCode = await runDiff(old, now, { json: o.json, flushCeiling: ceiling, stats: o.stats }, out);
      await stdout?.drain();
      completed = `diff:${o.gdb ? 'gdbstub' : 'offline'}`;
    } finally {
      await now.close();
    }
  } finally {
    await old.close();
  }
}

/** The subcommands, by name: a command line naming one builds only that one (see main). */
const COMMANDS = ['dump', 'translate', 'find', 'audit', 'simulate', 'diff'];

/** The command line parser; with `only`, just that subcommand (its help and errors are the same). */
export function program(only?: string): Command {
  const want = (name: string) => only === undefined || only === name;
  const p = new Command('ptview')
    .description('What the page tables of a QEMU guest really say: walk, translate, reverse-map, audit.')
    .version(packageVersion(), '-V, --version', 'print ptview\'s version')
    .showHelpAfterError('(run ptview --help for usage)')
    .exitOverride();
  const common = (c: Command) =>
    c
      .option('--core <file>', 'core file: QEMU dump-guest-memory (ELF, -z/-l/-s), Linux vmcore (ELF or makedumpfile kdump); format detected from the content')
      .option('--cpu <n>', '--core: take the registers of CPU n (default 0; see --list-cpus)')
      .option('--list-cpus', '--core: print the format, the CPUs and their registers the core holds, and exit')
      .option('--raw <file>', 'raw physical memory image (with --base and --arch)')
      .option('--snapshot <file>', 'a walk saved by ptview dump --save FILE (tables and registers of one stop)')
      .option('--base <pa>', 'physical address of the raw image\'s first byte')
      .option('--gdb <host:port>', 'live guest through its QEMU gdbstub (QEMU pauses the guest while ptview is connected; it stays paused afterwards)')
      .addOption(new Option('--via <client>', '--gdb: ptview\'s own gdbstub client (default) or GDB + cdt-gdb-adapter').choices(['gdbstub', 'gdb']))
      .option('--resume', '--gdb: let the guest run again when done (detach); by default it stays paused')
      .option('--reg <name=value>', 'register value (repeatable), e.g. EFER=0xd01, TCR_EL1=…, satp=…', collect, [])
      .addOption(new Option('--arch <arch>', 'architecture (default: from the core)').choices(arches()))
      .option('--root <root>', 'root(s) to walk: cr3, ttbr0, ttbr1, satp, table@0xPA (repeatable)', collect, [])
      .option('--json', 'machine-readable output (JSON Lines for lists)')
      .option('--stats', 'print tables read, bytes, gdbstub packets or DAP requests and time per phase to stderr')
      .option('--strategy <name>', `--gdb: force a physical-memory strategy (${STRATEGIES.join(', ')})`)
      .option('--direct-map <va>', '--gdb: guest VA of physical address 0 (a direct map such as Linux page_offset_base); recognised when not given');
  if (want('dump')) common(p.command('dump').description('list mappings: merged ranges (default) or every leaf'))
    .option('--leaves', 'one line (or JSON object) per leaf entry')
    .option('--filter <words>', 'w _w x _x w|x ro u s g _g or a memory type (wb, uc, normal…); comma-separated, repeatable', collect, [])
    .option('--va <range>', 'VA range START-END or START+LEN')
    .option('--pa <range>', 'PA range START-END or START+LEN')
    .option('--page-size <size>', 'only pages of this size (4K, 2M, 1G…)')
    .addOption(new Option('--half <half>', 'kernel or user half').choices(['kernel', 'user']))
    .option('--pa-contiguous', 'merge ranges only while physically contiguous too')
    .option('--save <file>', 'also save every table of the walk and the registers to FILE (read back with --snapshot FILE, e.g. by ptview diff)')
    .action((o) => cmdDump(o));
  if (want('translate')) common(p.command('translate').argument('<va>', 'virtual address (hex or decimal)').description('translate a VA with the per-level trace'))
    .action((va, o) => cmdTranslate(va, o));
  if (want('find')) common(p.command('find').argument('<pa>', 'physical address or range START-END').description('every VA that maps a physical address'))
    .action((pa, o) => cmdFind(pa, o));
  if (want('audit')) common(p.command('audit').description('W+X, user-accessible kernel pages, writable aliases of code, malformed tables'))
    .action((o) => cmdAudit(o));
  if (want('simulate')) common(p.command('simulate').description('simulated map/unmap/protect: descriptors written, TLB maintenance, hazards, range diff (never writes the guest)'))
    .option('--edit <edit>', "an edit, in order (repeatable): 'map VA PA SIZE RIGHTS', 'unmap VA SIZE', 'protect VA SIZE -w+x'", collect, [])
    .option('--flush-ceiling <n>', 'translations above which a full flush replaces per-address invalidation (default as Linux: x86 33, arm64 PTRS_PER_PTE-1, RISC-V 64)')
    .action((o) => withTarget(o, async (t) => (await (await import('./simulate')).runSimulate(t, o, out), EXIT.ok)));
  if (want('diff')) p.command('diff')
    .description('what changed in the page tables between two walks of one guest (two cores, raw images, snapshots, or a snapshot and a live stop), with the TLB maintenance each change required')
    .option('--core <file>', 'core file (give two: OLD then NEW)', collect, [])
    .option('--raw <file>', 'raw physical memory image (give two: OLD then NEW; with --base and --arch)', collect, [])
    .option('--snapshot <file>', 'a walk saved by ptview dump --save FILE', collect, [])
    .option('--gdb <host:port>', 'the live guest as the NEW side (with one --snapshot or --core as OLD)')
    .option('--cpu <n>', '--core: the CPU whose registers to take (default 0)')
    .option('--base <pa>', 'physical address of the raw images\' first byte')
    .addOption(new Option('--arch <arch>', 'architecture (--raw)').choices(arches()))
    .option('--reg <name=value>', 'register value for both sides (repeatable)', collect, [])
    .option('--new-reg <name=value>', 'register value for the NEW side only (repeatable), e.g. a new CR3 with --raw', collect, [])
    .option('--root <root>', 'root(s) to compare (repeatable)', collect, [])
    .option('--flush-ceiling <n>', 'translations above which a full flush replaces per-address invalidation (default 33, as the simulator)')
    .option('--json', 'one JSON object per change (JSON Lines)')
    .option('--stats', 'print how many tables were compared and how many were skipped as identical to stderr')
    .action((o) => cmdDiff(o));
  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    // Building the other five subcommands' ~100 options cost a millisecond or two of every run.
    await program(COMMANDS.includes(argv[2]) ? argv[2] : undefined).parseAsync(argv);
    await stdout?.drain();
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (e) {
    // What was written before the failure still reaches the reader.
    if (!(e instanceof OutputClosed)) await stdout?.drain().catch(() => undefined);
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith('commander.')) {
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT.ok : EXIT.usage;
    }
    if (e instanceof OutputClosed) return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
    if (e instanceof ExpansionError) {
      process.stderr.write(`ptview: ${err.message}; use \`ptview dump\` without --leaves (merged ranges, from the graph of tables), or limit the walk with --va START+LEN\n`);
      return EXIT.usage;
    }
    if (e instanceof FoldLimitError) {
      process.stderr.write(`ptview: ${err.message}; limit the output with --va START+LEN\n`);
      return EXIT.usage;
    }
    const known =
      e instanceof LiveAccessError || e instanceof MemoryReadError || e instanceof GdbAttachError || e instanceof GdbStubError
        ? EXIT.input
        : e instanceof UsageError || e instanceof AddressSyntaxError || e instanceof EditError || e instanceof DiffError || e instanceof RegisterError || e instanceof FilterError || e instanceof TranslateError
        ? EXIT.usage
        : e instanceof CoreFileError
          ? EXIT.input
          : undefined;
    process.stderr.write(`ptview: ${err.message}\n`);
    if (known === undefined && process.env.PTVIEW_DEBUG) process.stderr.write(`${err.stack}\n`);
    return known ?? EXIT.internal;
  }
}

/** Runs the command line of this process (the entry of ../cli.ts and of its bundle). */
export function run(): void {
  void main(process.argv).then((code) => {
    process.exitCode = code;
    // Everything is written and the target closed: leave now rather than after node frees the
    // heap (a few ms of a command's time). Only when no output is still queued (stdout and stderr
    // on a pipe are asynchronous on some systems; exiting would cut them short).
    if (process.stdout.writableLength === 0 && process.stderr.writableLength === 0) process.exit(code);
  });
}
