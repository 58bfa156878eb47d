// Real Linux guests for tests, the demo and the bench: Debian's own kernel packages (the current
// `linux-image-<arch>` metapackage's kernel; riscv64 from Debian 13, the first release where it is
// official), Debian's busybox-static of the guest architecture and a tiny init and user program of
// ours (test/guests/linux/, README there), booted under QEMU TCG with KASLR (x86_64, arm64; Debian's
// riscv64 kernel has no CONFIG_RANDOMIZE_BASE) and KPTI (x86_64, arm64 cortex-a57). Packages are
// fetched with `apt-get download` through a private apt state per Debian architecture
// (APT::Architecture set there), so nothing foreign is ever added to or installed on the host's
// dpkg; everything lands in .cache/linux/ and is reused between runs.
// Layout facts the variants rely on: Documentation/arch/x86/x86_64/mm.rst (4/5-level, LA57),
// Documentation/arch/x86/pti.rst (pti=on; user PGD = kernel PGD + 4 KiB), Documentation/arch/arm64/
// memory.rst (kpti), Documentation/admin-guide/kernel-parameters.txt (no4lvl / no5lvl on riscv).

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { bootSpec, GuestRun, GuestSpec, REPO } from './qemu';
import type { Arch } from '../../src/core/format';

const execFileP = promisify(execFile);

export const LINUX_CACHE = path.join(REPO, '.cache', 'linux');
const SRC = path.join(REPO, 'test', 'guests', 'linux');

export type LinuxArch = 'x86_64' | 'arm64' | 'riscv64';

/** A bootable configuration: architecture plus the CPU / kernel options that pick its paging mode. */
export type LinuxVariant =
  | 'x86_64-4level'
  | 'x86_64-5level'
  | 'arm64-kpti'
  | 'arm64-max'
  | 'riscv64-sv39'
  | 'riscv64-sv48'
  | 'riscv64-sv57';

interface ArchInfo {
  deb: string; // Debian architecture
  arch: Arch; // ptview's
  /** Debian suite to take the packages from; undefined: the host's own sources. riscv64 is an
   * official architecture from Debian 13 on. */
  suite?: string;
  as: string;
  ld: string;
  asFlags: string[];
}

const ARCHES: Record<LinuxArch, ArchInfo> = {
  x86_64: { deb: 'amd64', arch: 'x86_64', as: 'as', ld: 'ld', asFlags: [] },
  arm64: { deb: 'arm64', arch: 'aarch64', as: 'aarch64-linux-gnu-as', ld: 'aarch64-linux-gnu-ld', asFlags: [] },
  riscv64: {
    deb: 'riscv64', arch: 'riscv64', suite: 'trixie',
    as: 'riscv64-linux-gnu-as', ld: 'riscv64-linux-gnu-ld', asFlags: ['-march=rv64gc'],
  },
};

interface VariantInfo {
  arch: LinuxArch;
  qemu: string[];
  console: string;
  /** Kernel parameters beyond the console and the common ones. */
  append: string[];
  description: string;
}

const COMMON_APPEND = ['quiet', 'panic=-1', 'rdinit=/init'];

export const VARIANTS: Record<LinuxVariant, VariantInfo> = {
  'x86_64-4level': {
    arch: 'x86_64',
    qemu: ['qemu-system-x86_64', '-M', 'q35', '-cpu', 'qemu64', '-m', '256M', '-accel', 'tcg', '-vga', 'none', '-nic', 'none', '-device', 'vmcoreinfo'],
    console: 'ttyS0',
    append: ['pti=on'],
    description: 'x86_64, 4-level paging, KASLR, KPTI forced on',
  },
  'x86_64-5level': {
    arch: 'x86_64',
    qemu: ['qemu-system-x86_64', '-M', 'q35', '-cpu', 'max', '-m', '256M', '-accel', 'tcg', '-vga', 'none', '-nic', 'none', '-device', 'vmcoreinfo'],
    console: 'ttyS0',
    append: ['pti=on'],
    description: 'x86_64, 5-level paging (LA57 of -cpu max), KASLR, KPTI forced on',
  },
  'arm64-kpti': {
    arch: 'arm64',
    qemu: ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'cortex-a57', '-m', '256M', '-accel', 'tcg', '-nic', 'none', '-device', 'vmcoreinfo'],
    console: 'ttyAMA0',
    append: ['kpti=1'],
    description: 'arm64 4K pages, cortex-a57 (no CSV3: KPTI), KASLR',
  },
  'arm64-max': {
    arch: 'arm64',
    qemu: ['qemu-system-aarch64', '-M', 'virt', '-cpu', 'max', '-m', '256M', '-accel', 'tcg', '-nic', 'none', '-device', 'vmcoreinfo'],
    console: 'ttyAMA0',
    append: [],
    description: 'arm64 4K pages, -cpu max (PAN, E0PD: no KPTI), KASLR',
  },
  // No -device vmcoreinfo on riscv64: QEMU 7.2 refuses it ("requires fw_cfg with DMA": riscv virt
  // creates its fw_cfg, DMA-capable, only when the machine is done, after -device realizes; and the
  // device cannot be hot-plugged). The vmcore tests read the kernel's note from RAM instead.
  'riscv64-sv39': {
    arch: 'riscv64',
    qemu: ['qemu-system-riscv64', '-M', 'virt', '-m', '256M', '-accel', 'tcg', '-nic', 'none'],
    console: 'ttyS0',
    append: ['no4lvl'],
    description: 'riscv64 Sv39 (no4lvl)',
  },
  'riscv64-sv48': {
    arch: 'riscv64',
    qemu: ['qemu-system-riscv64', '-M', 'virt', '-m', '256M', '-accel', 'tcg', '-nic', 'none'],
    console: 'ttyS0',
    append: ['no5lvl'],
    description: 'riscv64 Sv48 (no5lvl)',
  },
  'riscv64-sv57': {
    arch: 'riscv64',
    qemu: ['qemu-system-riscv64', '-M', 'virt', '-m', '256M', '-accel', 'tcg', '-nic', 'none'],
    console: 'ttyS0',
    append: [],
    description: 'riscv64 Sv57 (the kernel picks the widest mode the hart has)',
  },
};

/** Files of a built guest, all under .cache/linux/<deb arch>/. */
export interface LinuxImage {
  readonly arch: LinuxArch;
  /** Debian package the kernel came from, e.g. linux-image-6.1.0-41-amd64-unsigned. */
  readonly package: string;
  readonly version: string;
  /** The kernel QEMU loads (decompressed where QEMU cannot load Debian's vmlinuz as is). */
  readonly kernel: string;
  /** Debian's /boot/System.map is a one-line stub (the real one is in the -dbg package). */
  readonly systemMap?: string;
  readonly config?: string;
  readonly initramfs: string;
}

function log(msg: string): void {
  if (process.env.PTVIEW_LINUX_QUIET) return;
  process.stderr.write(`[linux-guest] ${msg}\n`);
}

async function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<string> {
  try {
    const r = await execFileP(cmd, args, { cwd: opts.cwd, maxBuffer: 64 << 20, env: { ...process.env, LC_ALL: 'C' } });
    return r.stdout;
  } catch (e) {
    const err = e as NodeJS.ErrnoException & { stderr?: string; stdout?: string };
    if (err.code === 'ENOENT') throw new Error(`${cmd} not found (run: node scripts/ensure-deps.js)`);
    throw new Error(`${[cmd, ...args].join(' ')} failed: ${err.stderr || err.message}`);
  }
}

// ---------------------------------------------------------------- apt, privately per architecture

/** The host's Debian mirror for its own release (for suites the host does not list). */
function hostMirror(): string {
  const texts: string[] = [];
  for (const f of ['/etc/apt/sources.list', ...listDir('/etc/apt/sources.list.d').map((n) => path.join('/etc/apt/sources.list.d', n))]) {
    if (/\.(list|sources)$/.test(f) && fs.existsSync(f)) texts.push(fs.readFileSync(f, 'utf8'));
  }
  for (const t of texts) {
    for (const m of t.matchAll(/^\s*URIs:\s*(\S+)/gm)) if (!/security/.test(m[1])) return m[1];
    for (const m of t.matchAll(/^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+\S+/gm)) if (!/security/.test(m[1])) return m[1];
  }
  throw new Error('no Debian mirror in the apt sources of this machine');
}

function listDir(d: string): string[] {
  try {
    return fs.readdirSync(d);
  } catch {
    return [];
  }
}

class PrivateApt {
  readonly dir: string;
  constructor(private readonly a: ArchInfo) {
    this.dir = path.join(LINUX_CACHE, 'apt', a.deb);
  }

  private opts(): string[] {
    const o = [
      `Dir::State=${this.dir}/state`,
      `Dir::State::status=${this.dir}/status`,
      `Dir::Cache=${this.dir}/cache`,
      `APT::Architecture=${this.a.deb}`,
      `APT::Architectures=${this.a.deb}`,
      'APT::Sandbox::User=root',
      'Acquire::Languages=none',
    ];
    if (this.a.suite) o.push(`Dir::Etc::SourceList=${this.dir}/sources.list`, `Dir::Etc::SourceParts=${this.dir}/sources.list.d`);
    return o.flatMap((x) => ['-o', x]);
  }

  /** When the lists were last refreshed (ms since the epoch; 0: never). */
  updatedAt(): number {
    try {
      return fs.statSync(path.join(this.dir, 'updated')).mtimeMs;
    } catch {
      return 0;
    }
  }

  /** apt-get update at most once a day (or when forced by PTVIEW_LINUX_UPDATE=1). */
  async update(): Promise<void> {
    const stamp = path.join(this.dir, 'updated');
    const fresh = fs.existsSync(stamp) && Date.now() - fs.statSync(stamp).mtimeMs < 24 * 3600e3;
    if (fresh && !process.env.PTVIEW_LINUX_UPDATE) return;
    for (const d of ['state/lists/partial', 'cache/archives/partial', 'sources.list.d']) fs.mkdirSync(path.join(this.dir, d), { recursive: true });
    if (!fs.existsSync(path.join(this.dir, 'status'))) fs.writeFileSync(path.join(this.dir, 'status'), '');
    if (this.a.suite) {
      fs.writeFileSync(
        path.join(this.dir, 'sources.list'),
        `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${hostMirror()} ${this.a.suite} main\n`,
      );
    }
    log(`apt-get update for ${this.a.deb}${this.a.suite ? ` (${this.a.suite})` : ''}`);
    await run('apt-get', ['-q', ...this.opts(), 'update']);
    fs.writeFileSync(stamp, new Date().toISOString());
  }

  async depends(pkg: string): Promise<string[]> {
    const out = await run('apt-cache', [...this.opts(), 'depends', '--no-recommends', '--no-suggests', pkg]);
    return [...out.matchAll(/^\s+Depends:\s+(\S+)/gm)].map((m) => m[1]);
  }

  /** Candidate version of a package, or undefined when apt does not know it. */
  async version(pkg: string): Promise<string | undefined> {
    try {
      const out = await run('apt-cache', [...this.opts(), 'policy', pkg]);
      const m = /Candidate:\s+(\S+)/.exec(out);
      return m && m[1] !== '(none)' ? m[1] : undefined;
    } catch {
      return undefined;
    }
  }

  /** Downloads pkg (the candidate) into `into`; returns the .deb's path. Cached by name+version. */
  async download(pkg: string, version: string, into: string): Promise<string> {
    fs.mkdirSync(into, { recursive: true });
    const want = (f: string) => f.startsWith(`${pkg}_`) && f.endsWith(`_${this.a.deb}.deb`) && decodeURIComponent(f).includes(`_${version}_`);
    let found = listDir(into).find(want);
    if (!found) {
      log(`downloading ${pkg} ${version} (${this.a.deb})`);
      await run('apt-get', ['-q', ...this.opts(), 'download', `${pkg}=${version}`], { cwd: into });
      found = listDir(into).find(want);
      if (!found) throw new Error(`apt-get download ${pkg}=${version} produced no .deb in ${into}`);
    }
    return path.join(into, found);
  }
}

// ---------------------------------------------------------------- kernel, busybox, user program

/** Resolves `linux-image-<arch>` to its kernel package now (never a pinned version). */
async function resolveKernel(apt: PrivateApt, a: ArchInfo): Promise<{ pkg: string; version: string }> {
  const meta = `linux-image-${a.deb}`;
  const dep = (await apt.depends(meta)).find((d) => d.startsWith('linux-image-') && d !== meta);
  if (!dep) throw new Error(`apt: ${meta} depends on no linux-image package`);
  // The unsigned image is the same kernel without the Secure Boot signature; not every
  // architecture has one.
  for (const pkg of [`${dep}-unsigned`, dep]) {
    const version = await apt.version(pkg);
    if (version) return { pkg, version };
  }
  throw new Error(`apt: no candidate for ${dep}`);
}

/** QEMU 7.2 loads gzip-compressed arm64 Images itself but not riscv64 ones, and neither takes an
 * EFI zboot image (kernel's drivers/firmware/efi/libstub/zboot-header.S: "zimg" at 4, payload
 * offset/size at 8/12, compression name at 24). Returns a plain Image when needed. */
function plainKernel(vmlinuz: string, out: string, arch: LinuxArch): string {
  if (arch === 'x86_64') return vmlinuz;
  const buf = fs.readFileSync(vmlinuz);
  let payload: Buffer | undefined;
  if (buf.subarray(4, 8).toString('latin1') === 'zimg') {
    const off = buf.readUInt32LE(8);
    const size = buf.readUInt32LE(12);
    const comp = buf.subarray(24, 32).toString('latin1').replace(/\0.*$/s, '');
    if (comp !== 'gzip') throw new Error(`${vmlinuz}: EFI zboot image compressed with ${comp}; only gzip is handled`);
    payload = buf.subarray(off, off + size);
  } else if (buf[0] === 0x1f && buf[1] === 0x8b) {
    payload = buf;
  }
  if (!payload) return vmlinuz;
  fs.writeFileSync(out, gunzipSync(payload));
  return out;
}

/** Extracts only ./boot from the kernel package (the few modules the guest loads: guestModules). */
async function unpackKernel(deb: string, into: string): Promise<void> {
  const tmp = fs.mkdtempSync(path.join(path.dirname(into), '.unpack-'));
  try {
    await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" --wildcards "./boot/*"', 'sh', deb, tmp]);
    fs.rmSync(into, { recursive: true, force: true });
    fs.renameSync(tmp, into);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Modules init loads, in this order (their dependencies first, from each one's modinfo): qemu_fw_cfg
 * hands the kernel's VMCOREINFO note to QEMU's `-device vmcoreinfo` (drivers/firmware/qemu_fw_cfg.c
 * fw_cfg_write_vmcoreinfo), so `dump-guest-memory` includes it. Debian builds it as a module. */
const GUEST_MODULES = ['qemu_fw_cfg'];

/** The `depends=` of a module's .modinfo section (NUL-separated key=value strings). */
function moduleDepends(ko: Buffer): string[] {
  const at = ko.indexOf('\0depends=', 0, 'latin1');
  if (at < 0) return [];
  const end = ko.indexOf(0, at + 1);
  return ko.subarray(at + 9, end).toString('latin1').split(',').filter(Boolean);
}

/** A module file as the kernel's init_module takes it (Debian compresses them from Debian 13 on). */
async function decompressModule(file: string): Promise<Buffer> {
  if (file.endsWith('.ko')) return fs.readFileSync(file);
  if (file.endsWith('.ko.gz')) return gunzipSync(fs.readFileSync(file));
  const tool = file.endsWith('.ko.xz') ? 'xz' : file.endsWith('.ko.zst') ? 'zstd' : undefined;
  if (!tool) throw new Error(`${file}: unknown module compression`);
  try {
    return (await execFileP(tool, ['-dc', file], { encoding: 'buffer', maxBuffer: 64 << 20 })).stdout;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${tool} not found (run: node scripts/ensure-deps.js)`);
    throw e;
  }
}

/**
 * GUEST_MODULES and what they depend on, decompressed, from the kernel package `deb` into
 * `<kdir>/modules/` (once). Returns the .ko paths in load order.
 */
async function guestModules(kernelDeb: () => Promise<string>, kdir: string): Promise<string[]> {
  const dir = path.join(kdir, 'modules');
  const orderFile = path.join(dir, 'order');
  if (fs.existsSync(orderFile)) return fs.readFileSync(orderFile, 'utf8').split('\n').filter(Boolean).map((n) => path.join(dir, `${n}.ko`));
  const deb = await kernelDeb();
  fs.mkdirSync(kdir, { recursive: true });
  const listing = (await run('dpkg-deb', ['-c', deb])).split('\n').map((l) => l.replace(/^.*\s(\.\/\S+)$/, '$1'));
  const tmp = fs.mkdtempSync(path.join(kdir, '.modules-'));
  try {
    const order: string[] = [];
    const add = async (name: string, chain: string[]): Promise<void> => {
      if (order.includes(name)) return;
      if (chain.includes(name)) throw new Error(`module dependency loop: ${[...chain, name].join(' -> ')}`);
      // modinfo spells names with _ where files may have -
      const re = new RegExp(`/kernel/.*/${name.replace(/[_-]/g, '[_-]')}\\.ko(\\.(xz|zst|gz))?$`);
      const member = listing.find((l) => re.test(l));
      if (!member) throw new Error(`${path.basename(deb)}: no module ${name}`);
      await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -x -C "$2" "$3"', 'sh', deb, tmp, member]);
      const ko = await decompressModule(path.join(tmp, member));
      for (const d of moduleDepends(ko)) await add(d, [...chain, name]);
      fs.writeFileSync(path.join(tmp, `${name}.ko`), ko);
      order.push(name);
    };
    for (const m of GUEST_MODULES) await add(m, []);
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    for (const n of order) fs.renameSync(path.join(tmp, `${n}.ko`), path.join(dir, `${n}.ko`));
    fs.writeFileSync(orderFile, order.join('\n') + '\n');
    return order.map((n) => path.join(dir, `${n}.ko`));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

async function buildUser(a: ArchInfo, arch: LinuxArch, out: string): Promise<void> {
  const src = path.join(SRC, `user-${arch}.S`);
  const obj = `${out}.o`;
  await run(a.as, [...a.asFlags, '-o', obj, src]);
  await run(a.ld, ['-static', '-o', out, obj]);
  fs.rmSync(obj, { force: true });
}

// ---------------------------------------------------------------- initramfs (cpio "newc")

interface CpioEntry {
  name: string;
  mode: number; // type and permission bits
  data?: Buffer;
  rdev?: [number, number];
}

/** An uncompressed newc archive (Documentation/driver-api/early-userspace/buffer-format.rst).
 * Written here rather than with cpio(1) so it can hold /dev/console as root without a staging
 * directory and mknod. */
export function cpioNewc(entries: CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, '0');
  const add = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(e.name + '\0');
    const hdr = Buffer.from(
      '070701' +
        [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0, e.rdev?.[1] ?? 0, name.length, 0].map(hex).join(''),
      'latin1',
    );
    parts.push(hdr, name, pad4(hdr.length + name.length), data, pad4(data.length));
  };
  for (const e of entries) add(e);
  add({ name: 'TRAILER!!!', mode: 0 });
  return Buffer.concat(parts);
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

// ---------------------------------------------------------------- build

const building = new Map<LinuxArch, Promise<LinuxImage>>();

/**
 * Fetches (once, cached) and builds the Linux guest of an architecture: the current Debian kernel,
 * busybox-static, our init and user program in an initramfs. Concurrent callers share the build.
 * When the package lists cannot be refreshed (offline), the last built image is used.
 */
export function buildLinux(arch: LinuxArch): Promise<LinuxImage> {
  let p = building.get(arch);
  if (!p) {
    p = build(arch);
    building.set(arch, p);
    p.catch(() => building.delete(arch));
  }
  return p;
}

/** The initramfs for a busybox .deb: rebuilt when busybox, the init or the user program's source
 * changes (its name carries their hash). */
async function initramfsFor(arch: LinuxArch, base: string, bbDeb: string, modules: string[]): Promise<string> {
  const h = createHash('sha256').update(path.basename(bbDeb));
  for (const f of ['init', `user-${arch}.S`]) h.update(fs.readFileSync(path.join(SRC, f)));
  for (const m of modules) h.update(path.basename(m)).update(fs.readFileSync(m));
  const initramfs = path.join(base, `initramfs-${h.digest('hex').slice(0, 12)}.cpio`);
  if (fs.existsSync(initramfs)) return initramfs;
  const tmp = fs.mkdtempSync(path.join(base, '.initramfs-'));
  try {
    await run('dpkg-deb', ['-x', bbDeb, path.join(tmp, 'bb')]);
    // bin/ up to Debian 12, usr/bin/ (merged /usr) from Debian 13
    const bbBin = ['bin', 'usr/bin'].map((d) => path.join(tmp, 'bb', d, 'busybox')).find((f) => fs.existsSync(f));
    if (!bbBin) throw new Error(`${bbDeb}: no busybox binary in bin/ or usr/bin/`);
    const user = path.join(tmp, 'ptview-user');
    await buildUser(ARCHES[arch], arch, user);
    const cpio = cpioNewc([
      ...['dev', 'proc', 'sys', 'tmp', 'bin', 'sbin', 'usr', 'usr/bin', 'usr/sbin', 'modules'].map((name) => ({ name, mode: S_IFDIR | 0o755 })),
      // init loads them in the order of /modules/order
      ...modules.map((m) => ({ name: `modules/${path.basename(m)}`, mode: S_IFREG | 0o644, data: fs.readFileSync(m) })),
      { name: 'modules/order', mode: S_IFREG | 0o644, data: Buffer.from(modules.map((m) => path.basename(m, '.ko')).join('\n') + '\n') },
      { name: 'dev/console', mode: S_IFCHR | 0o600, rdev: [5, 1] as [number, number] },
      { name: 'bin/busybox', mode: S_IFREG | 0o755, data: fs.readFileSync(bbBin) },
      { name: 'init', mode: S_IFREG | 0o755, data: fs.readFileSync(path.join(SRC, 'init')) },
      { name: 'ptview-user', mode: S_IFREG | 0o755, data: fs.readFileSync(user) },
    ]);
    const part = path.join(tmp, 'initramfs.cpio');
    fs.writeFileSync(part, cpio);
    fs.renameSync(part, initramfs);
    // Older images (QEMU reads its -initrd at start, so running guests do not need the file).
    for (const f of listDir(base)) if (/^initramfs-[0-9a-f]+\.cpio$/.test(f) && f !== path.basename(initramfs)) fs.rmSync(path.join(base, f), { force: true });
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  return initramfs;
}

interface Manifest extends LinuxImage {
  readonly busyboxDeb: string;
}

/** buildLinux without the per-process sharing (each call checks the cache again). */
export async function build(arch: LinuxArch): Promise<LinuxImage> {
  const a = ARCHES[arch];
  const base = path.join(LINUX_CACHE, a.deb);
  const manifestFile = path.join(base, 'image.json');
  const apt = new PrivateApt(a);
  let offline: Error | undefined;
  try {
    await apt.update();
  } catch (e) {
    offline = e as Error;
  }
  // The last build stands while the package lists it was resolved from are current (or apt is
  // unreachable); only the initramfs is checked against its sources.
  let cached: Manifest | undefined;
  try {
    cached = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch {
    cached = undefined;
  }
  if (cached && [cached.kernel, cached.busyboxDeb].every((f) => fs.existsSync(f)) && (offline || fs.statSync(manifestFile).mtimeMs >= apt.updatedAt())) {
    if (offline) log(`apt failed (${offline.message.split('\n')[0]}); using the cached image`);
    const { busyboxDeb, ...image } = cached;
    const modules = await guestModules(() => apt.download(cached!.package, cached!.version, path.join(base, 'debs')), path.join(base, `${cached.package}_${cached.version}`));
    return { ...image, initramfs: await initramfsFor(arch, base, busyboxDeb, modules) };
  }
  if (offline) throw offline;
  const kernel = await resolveKernel(apt, a);
  const busybox = await apt.version('busybox-static');
  if (!busybox) throw new Error('apt: no busybox-static');
  const debs = path.join(base, 'debs');
  const kdir = path.join(base, `${kernel.pkg}_${kernel.version}`);
  const kernelDeb = () => apt.download(kernel.pkg, kernel.version, debs);
  if (!fs.existsSync(path.join(kdir, 'boot'))) await unpackKernel(await kernelDeb(), kdir);
  const modules = await guestModules(kernelDeb, kdir);
  const boot = path.join(kdir, 'boot');
  const find = (prefix: string) => listDir(boot).find((f) => f.startsWith(prefix));
  const vmlinuz = find('vmlinuz-') ?? find('vmlinux-');
  if (!vmlinuz) throw new Error(`${kernel.pkg}: no /boot/vmlinuz-* in the package`);
  const kernelFile = plainKernel(path.join(boot, vmlinuz), path.join(kdir, 'Image'), arch);
  const bbDeb = await apt.download('busybox-static', busybox, debs);
  const sm = find('System.map-');
  const cfg = find('config-');
  const image: LinuxImage = {
    arch,
    package: kernel.pkg,
    version: kernel.version,
    kernel: kernelFile,
    systemMap: sm ? path.join(boot, sm) : undefined,
    config: cfg ? path.join(boot, cfg) : undefined,
    initramfs: await initramfsFor(arch, base, bbDeb, modules),
  };
  const tmpManifest = `${manifestFile}.${process.pid}`;
  fs.writeFileSync(tmpManifest, JSON.stringify({ ...image, busyboxDeb: bbDeb }, null, 2));
  fs.renameSync(tmpManifest, manifestFile);
  // Superseded kernels, packages and initramfs images (the cache keeps one of each).
  for (const f of listDir(base)) {
    if (f !== path.basename(kdir) && f.startsWith('linux-image-')) fs.rmSync(path.join(base, f), { recursive: true, force: true });
  }
  for (const f of listDir(debs)) {
    if (!f.startsWith(`${kernel.pkg}_`) && f !== path.basename(bbDeb)) fs.rmSync(path.join(debs, f), { force: true });
  }
  return image;
}

// ---------------------------------------------------------------- boot and the user program's report

export interface UserPage {
  va: bigint;
  /** The raw /proc/self/pagemap entry (Documentation/admin-guide/mm/pagemap.rst). */
  entry: bigint;
  present: boolean;
  /** Bits 0-54 when present: the page frame number. */
  pfn: bigint;
  /** pfn << 12. */
  pa: bigint;
}

export interface UserMapping {
  name: 'text' | 'stack' | 'wx' | 'ro' | 'anon' | 'shm-a' | 'shm-b' | string;
  va: bigint;
  pages: UserPage[];
}

export interface UserReport {
  pid: number;
  mappings: Map<string, UserMapping>;
  /** Code VAs around the mprotect(anon, PROT_READ) the program performs when the 64-bit word at
   * `flag` (in shm-a, so also at shm-b + 8) is nonzero; it clears the word and prints
   * PTVIEW-MPROTECT afterwards. */
  step: { before: bigint; after: bigint; flag: bigint };
}

/** Parses the user program's console lines (format: test/guests/linux/README.md). */
export function parseUserReport(serial: string): UserReport {
  const lines = serial.split(/\r?\n/);
  let pid: number | undefined;
  let step: UserReport['step'] | undefined;
  const mappings = new Map<string, UserMapping>();
  for (const l of lines) {
    let m: RegExpExecArray | null;
    if ((m = /^PTVIEW-USER pid (0x[0-9a-f]+)$/.exec(l))) pid = Number(BigInt(m[1]));
    else if ((m = /^PTVIEW-MAP (\S+) (0x[0-9a-f]+) (0x[0-9a-f]+)$/.exec(l))) mappings.set(m[1], { name: m[1], va: BigInt(m[2]), pages: [] });
    else if ((m = /^PTVIEW-PAGE (\S+) (0x[0-9a-f]+) (0x[0-9a-f]+)$/.exec(l))) {
      const entry = BigInt(m[3]);
      const present = (entry >> 63n) === 1n;
      const pfn = present ? entry & ((1n << 55n) - 1n) : 0n;
      mappings.get(m[1])?.pages.push({ va: BigInt(m[2]), entry, present, pfn, pa: pfn << 12n });
    } else if ((m = /^PTVIEW-STEP (0x[0-9a-f]+) (0x[0-9a-f]+) (0x[0-9a-f]+)$/.exec(l))) {
      step = { before: BigInt(m[1]), after: BigInt(m[2]), flag: BigInt(m[3]) };
    }
  }
  if (pid === undefined || !step || mappings.size === 0) throw new Error(`the guest's user program printed no complete report:\n${serial.slice(-4000)}`);
  return { pid, mappings, step };
}

/** One program header of /proc/kcore (fs/proc/kcore.c: one PT_LOAD per RAM range, the kernel
 * image, vmalloc, modules, vmemmap; paddr is the PA where one exists, else all ones). */
export interface KcoreSegment {
  type: number; // 1 = PT_LOAD, 4 = PT_NOTE
  flags: number;
  vaddr: bigint;
  paddr: bigint;
  filesz: bigint;
  memsz: bigint;
}

/** One line of /proc/vmallocinfo (mm/vmalloc.c s_show): `start-end size caller [pages=N] [flags]`.
 * `size` includes the guard page. */
export interface VmallocArea {
  start: bigint;
  end: bigint;
  size: bigint;
  /** Mapped pages (`pages=N`), when the line says. */
  pages?: number;
  line: string;
}

/** One line of /proc/iomem: `start-end : name`, nesting by two spaces. */
export interface IomemRange {
  start: bigint;
  end: bigint; // inclusive, as printed
  depth: number;
  name: string;
}

/** What the guest's kernel says about its own layout, printed by init before the user program. */
export interface KernelInfo {
  kcore: KcoreSegment[];
  vmalloc: VmallocArea[];
  iomem: IomemRange[];
  /** The few symbols init greps from /proc/kallsyms (runtime addresses, KASLR applied). Debian's
   * arm64 kernel has no CONFIG_KALLSYMS_ALL: only text symbols there. */
  kallsyms: Map<string, bigint>;
  /** A kernel symbol's runtime address, when init printed it. */
  symbol(name: string): bigint | undefined;
  /** /sys/kernel/vmcoreinfo: the physical address and size of the kernel's VMCOREINFO ELF note. */
  vmcoreinfoNote?: { pa: bigint; size: number };
  /** Whether qemu_fw_cfg (loaded by init) lists `etc/vmcoreinfo`, i.e. QEMU has -device vmcoreinfo
   * and the driver handed the note over. */
  fwCfgVmcoreinfo: boolean;
  /** Modules init failed to load. */
  insmodFailed: string[];
}

const hexBig = (h: string) => BigInt('0x' + h);

/** Parses init's PTVIEW-KCORE / -VMALLOC / -IOMEM / -KSYM lines. */
export function parseKernelInfo(serial: string): KernelInfo {
  const bytes: number[] = [];
  const vmalloc: VmallocArea[] = [];
  const iomem: IomemRange[] = [];
  const kallsyms = new Map<string, bigint>();
  let vmcoreinfoNote: KernelInfo['vmcoreinfoNote'];
  let fwCfgVmcoreinfo = false;
  const insmodFailed: string[] = [];
  for (const raw of serial.split(/\r?\n/)) {
    let m: RegExpExecArray | null;
    if ((m = /^PTVIEW-VMCOREINFO (?:0x)?([0-9a-f]+) ([0-9a-f]+)\s*$/.exec(raw))) vmcoreinfoNote = { pa: hexBig(m[1]), size: parseInt(m[2], 16) };
    else if (raw.startsWith('PTVIEW-FWCFG etc/vmcoreinfo')) fwCfgVmcoreinfo = true;
    else if ((m = /^PTVIEW-INSMOD failed (\S+)/.exec(raw))) insmodFailed.push(m[1]);
    else if (raw.startsWith('PTVIEW-KCORE')) {
      for (const b of raw.slice('PTVIEW-KCORE'.length).trim().split(/\s+/)) if (b) bytes.push(parseInt(b, 16));
    } else if ((m = /^PTVIEW-VMALLOC 0x([0-9a-f]+)-0x([0-9a-f]+)\s+(\d+)\s*(.*)$/.exec(raw))) {
      const pages = /\bpages=(\d+)/.exec(m[4]);
      vmalloc.push({ start: hexBig(m[1]), end: hexBig(m[2]), size: BigInt(m[3]), pages: pages ? Number(pages[1]) : undefined, line: m[4] });
    } else if ((m = /^PTVIEW-IOMEM( *)([0-9a-f]+)-([0-9a-f]+) : (.*)$/.exec(raw))) {
      iomem.push({ start: hexBig(m[2]), end: hexBig(m[3]), depth: (m[1].length - 1) >> 1, name: m[4] });
    } else if ((m = /^PTVIEW-KSYM ([0-9a-f]+) \S (\S+)$/.exec(raw))) {
      kallsyms.set(m[2], hexBig(m[1]));
    }
  }
  const kcore: KcoreSegment[] = [];
  if (bytes.length >= 64) {
    const b = Buffer.from(bytes);
    if (b.readUInt32BE(0) === 0x7f454c46 && b[4] === 2) {
      const phoff = Number(b.readBigUInt64LE(0x20));
      const phentsize = b.readUInt16LE(0x36);
      const phnum = b.readUInt16LE(0x38);
      for (let i = 0; i < phnum && phoff + (i + 1) * phentsize <= b.length; i++) {
        const o = phoff + i * phentsize;
        kcore.push({
          type: b.readUInt32LE(o), flags: b.readUInt32LE(o + 4), vaddr: b.readBigUInt64LE(o + 16), paddr: b.readBigUInt64LE(o + 24),
          filesz: b.readBigUInt64LE(o + 32), memsz: b.readBigUInt64LE(o + 40),
        });
      }
    }
  }
  return {
    kcore, vmalloc, iomem, kallsyms, vmcoreinfoNote, fwCfgVmcoreinfo, insmodFailed,
    symbol: (name) => kallsyms.get(name),
  };
}

export interface LinuxRun extends GuestRun {
  readonly variant: LinuxVariant;
  readonly image: LinuxImage;
  /** `uname -r` as the guest printed it. */
  readonly release: string;
  readonly user: UserReport;
  /** The kernel's own view of its layout at boot (kcore headers, vmallocinfo, iomem, symbols). */
  readonly kernelInfo: KernelInfo;
  /** Milliseconds from QEMU's start to PTVIEW-READY. */
  readonly bootMs: number;
  /**
   * Pauses the guest with the CPU running the user program in user mode (x86 CPL 3 with the KPTI
   * user root, AArch64 EL0, RISC-V U): stops, reads `info registers`, and otherwise lets it run a
   * moment and tries again. The guest stays paused. Returns that `info registers` text.
   */
  stopInUser(): Promise<string>;
  /** The same in the kernel (x86: CPL 0 with the kernel root loaded, CR3 bit 12 clear; AArch64
   * EL1; RISC-V S), e.g. in the user program's getpid. */
  stopInKernel(): Promise<string>;
}

export interface LinuxBootOptions {
  gdb?: boolean;
  timeoutMs?: number;
  extraArgs?: string[];
  /** Extra kernel parameters. */
  append?: string[];
}

/** The privilege level `info registers` shows: x86 CPL and whether CR3 holds KPTI's user root
 * (bit 12); AArch64 EL from PSTATE; RISC-V from the PC. */
export function privilege(arch: LinuxArch, regs: string): { user: boolean; kernelRoot: boolean } | undefined {
  if (arch === 'x86_64') {
    const m = /\bCPL=(\d)/.exec(regs);
    const cr3 = /\bCR3=([0-9a-f]+)/i.exec(regs);
    if (!m || !cr3) return undefined;
    return { user: m[1] === '3', kernelRoot: (BigInt('0x' + cr3[1]) & 0x1000n) === 0n };
  }
  if (arch === 'arm64') {
    const m = /PSTATE=[0-9a-f]+ \S+ EL(\d)/.exec(regs);
    return m ? { user: m[1] === '0', kernelRoot: m[1] !== '0' } : undefined;
  }
  // QEMU 7.2 prints no privilege level for RISC-V: tell it from the PC. Linux runs in the upper
  // half (S), our user program and busybox low, OpenSBI (M) at the physical 0x80000000.
  const pc = /^\s*pc\s+([0-9a-f]+)/im.exec(regs);
  if (!pc) return undefined;
  const v = BigInt('0x' + pc[1]);
  return { user: v < 0x80000000n, kernelRoot: v >> 63n === 1n };
}

/**
 * The one retry loop of stops at a wanted state: takes a sample of the guest (stopping it: QMP
 * `stop`, or a debugger's attach), returns it when `accept` takes it, else lets the guest run
 * (`between`, e.g. `cont` and a pause; nothing where taking the sample lets it run, as a gdb
 * detach does) and tries again. QEMU honours a stop only between translation blocks, so which
 * state a stop finds is chance: the caller says how many tries. `seen` describes the refused ones
 * for the error.
 */
export async function sampleUntil<T>(o: {
  what: string;
  tries: number;
  take: () => Promise<T>;
  accept: (sample: T) => boolean;
  between?: (i: number) => Promise<void>;
  seen?: () => string;
}): Promise<T> {
  for (let i = 0; i < o.tries; i++) {
    const sample = await o.take();
    if (o.accept(sample)) return sample;
    await o.between?.(i);
  }
  throw new Error(`never got ${o.what} in ${o.tries} tries${o.seen ? ` (${o.seen()})` : ''}`);
}

/** Builds (cached) and boots a Linux guest; resolves once its user program printed PTVIEW-READY. */
export async function bootLinux(variant: LinuxVariant, opts: LinuxBootOptions = {}): Promise<LinuxRun> {
  const v = VARIANTS[variant];
  const image = await buildLinux(v.arch);
  const append = [`console=${v.console}`, ...COMMON_APPEND, ...v.append, ...(opts.append ?? [])].join(' ');
  const spec: GuestSpec = {
    arch: ARCHES[v.arch].arch,
    description: `${v.description}; ${image.package} ${image.version}`,
    build: [],
    kernel: image.kernel,
    qemu: [...v.qemu, '-kernel', '{kernel}', '-initrd', image.initramfs, '-append', append],
    readyTimeoutMs: 300000,
  };
  const t0 = Date.now();
  const run = await bootSpec(`linux-${variant}`, spec, image.kernel, { gdb: opts.gdb, timeoutMs: opts.timeoutMs, extraArgs: opts.extraArgs });
  const bootMs = Date.now() - t0;
  const serial = run.serial();
  const rel = /^PTVIEW-LINUX release (\S+)/m.exec(serial);
  let user: UserReport;
  try {
    user = parseUserReport(serial);
  } catch (e) {
    await run.kill();
    throw e;
  }
  log(`${variant}: ${rel?.[1] ?? '?'} ready in ${(bootMs / 1000).toFixed(1)} s`);
  const stopIn = async (want: 'user' | 'kernel'): Promise<string> => {
    const pcs = new Map<string, number>();
    return sampleUntil({
      what: `${variant}: a stop in ${want} mode`,
      tries: 500,
      take: async () => {
        await run.stop();
        return run.hmp('info registers');
      },
      accept: (regs) => {
        const p = privilege(v.arch, regs);
        if (p === undefined) throw new Error(`cannot tell the privilege level from info registers:\n${regs}`);
        if (want === 'user' ? p.user : !p.user && p.kernelRoot) return true;
        const pc = /^\s*(?:pc|RIP|PC)\s*[=:]?\s*([0-9a-f]+)/im.exec(regs)?.[1] ?? '?';
        pcs.set(pc, (pcs.get(pc) ?? 0) + 1);
        return false;
      },
      // Short runs first; then longer ones: a TCG guest starved by a loaded host spends a short
      // run catching up on timer interrupts in the kernel.
      between: async (i) => {
        await run.cont();
        await new Promise((r) => setTimeout(r, 1 + (i % 7) + 10 * Math.floor(i / 40)));
      },
      seen: () => {
        const top = [...pcs].sort((a, b) => b[1] - a[1]).slice(0, 8).map(([pc, n]) => `${pc} ×${n}`).join(', ');
        return `PCs seen: ${top}; serial since PTVIEW-READY:\n${run.serial().split('PTVIEW-READY').pop()!.slice(-3000)}`;
      },
    });
  };
  const kernelInfo = parseKernelInfo(serial);
  return Object.assign(run, {
    variant, image, release: rel?.[1] ?? '', user, kernelInfo, bootMs,
    stopInUser: () => stopIn('user'), stopInKernel: () => stopIn('kernel'),
  });
}

const shared = new Map<LinuxVariant, Promise<LinuxRun>>();

/**
 * One booted guest per variant per process (a mocha run is one process): the first caller boots
 * it with its gdbstub, later callers get the same run. It is killed when the process exits; do not
 * kill it yourself. Callers that need it paused in the user program call `stopInUser()`; callers
 * that let it run must leave it paused again (`stopInUser()`) when they are done.
 */
export function sharedLinux(variant: LinuxVariant): Promise<LinuxRun> {
  let p = shared.get(variant);
  if (!p) {
    p = bootLinux(variant, { gdb: true }).then(async (r) => {
      await r.stopInUser();
      return r;
    });
    shared.set(variant, p);
    p.catch(() => shared.delete(variant));
  }
  return p;
}
