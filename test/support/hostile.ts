// The hostile corpus: small raw images whose tables unfold into astronomically large trees
// (every entry pointing back to the root; 512-way fan-out to one shared table at every level),
// encoded from the manuals' entry formats (Intel SDM vol. 3 §4.5, RISC-V privileged spec §4.3-4.4,
// Arm ARM D8.3), not by the core's formats.
//
// `node build/test/support/hostile.js DIR` writes each image as DIR/NAME.bin with DIR/NAME.args
// (the ptview options that read it), for trying them by hand.
import fs from 'node:fs';
import path from 'node:path';
import { Arch } from '../../src/core/format';

export interface HostileImage {
  name: string;
  what: string;
  arch: Arch;
  /** The image, loaded at physical address 0. */
  bytes: Buffer;
  /** --reg NAME=VALUE options. */
  regs: [string, bigint][];
  /** Leaves a tree walk would visit (undefined: none to speak of). */
  treeLeaves: number;
}

const X86_P = 1n;
const X86_RW = 2n;
const X86_US = 4n;
const X86_PS = 0x80n;
const x86Regs = (cr3: bigint): [string, bigint][] => [['cr0', 0x80010011n], ['cr3', cr3], ['cr4', 0x20n], ['efer', 0xd00n]];

function image(pages: number, fill: (set: (pa: number, v: bigint) => void) => void): Buffer {
  const b = Buffer.alloc(pages * 4096);
  fill((pa, v) => b.writeBigUInt64LE(BigInt.asUintN(64, v), pa));
  return b;
}

function fanOut(levels: number, table: (pa: number) => bigint, leaf: (i: number) => bigint): Buffer {
  // Table k (at k * 4 KiB) has all 512 entries pointing to table k + 1; the last holds leaves.
  return image(levels + 1, (set) => {
    for (let k = 0; k < levels; k++) {
      for (let i = 0; i < 512; i++) set(k * 4096 + 8 * i, k < levels - 1 ? table((k + 1) * 4096) : leaf(i));
    }
  });
}

export function hostileCorpus(): HostileImage[] {
  const sv39Regs: [string, bigint][] = [['satp', 8n << 60n]];
  const a64Regs: [string, bigint][] = [
    ['ttbr0_el1', 0n], ['ttbr1_el1', 0n], ['sctlr_el1', 1n],
    // T0SZ=16, TG0=4K, T1SZ=16, TG1=4K, IPS=48 bits, EPD1 (no TTBR1 walks)
    ['tcr_el1', 16n | (16n << 16n) | (2n << 30n) | (5n << 32n) | (1n << 23n)],
  ];
  return [
    {
      name: 'x86_64-self-root', what: 'every PML4 entry points back to the PML4 (4 KiB)', arch: 'x86_64',
      bytes: image(1, (set) => { for (let i = 0; i < 512; i++) set(8 * i, X86_P | X86_RW | X86_US); }),
      regs: x86Regs(0n), treeLeaves: 0,
    },
    {
      name: 'x86_64-fan-out', what: '512-way fan-out to one table at every level, 4 KiB pages of scattered frames (20 KiB)', arch: 'x86_64',
      bytes: fanOut(4, (pa) => BigInt(pa) | X86_P | X86_RW | X86_US, (i) => BigInt(0x100000 + 4096 * ((i * 7) % 512)) | X86_P | X86_RW),
      regs: x86Regs(0n), treeLeaves: 512 ** 4,
    },
    {
      name: 'x86_64-fan-out-alternating', what: 'fan-out whose leaves alternate RW and RO: as many merged ranges as leaves', arch: 'x86_64',
      bytes: fanOut(4, (pa) => BigInt(pa) | X86_P | X86_RW, (i) => BigInt(4096 * i) | X86_P | (i % 2 ? X86_RW : 0n)),
      regs: x86Regs(0n), treeLeaves: 512 ** 4,
    },
    {
      name: 'x86_64-fan-out-reserved', what: 'fan-out whose last-level entries all set reserved bit 51 (one diagnostic each, not 512^3)', arch: 'x86_64',
      bytes: fanOut(4, (pa) => BigInt(pa) | X86_P | X86_RW, (i) => BigInt(4096 * i) | X86_P | (1n << 51n)),
      regs: [...x86Regs(0n), ['maxphyaddr', 40n]], treeLeaves: 0,
    },
    {
      name: 'x86_64-fan-out-2m', what: 'fan-out to 2 MiB leaves: 2^27 leaves, one merged range', arch: 'x86_64',
      bytes: fanOut(3, (pa) => BigInt(pa) | X86_P | X86_RW, (i) => BigInt(0x200000 * i) | X86_P | X86_RW | X86_PS | (1n << 63n)),
      regs: x86Regs(0n), treeLeaves: 512 ** 3,
    },
    {
      name: 'riscv64-self-root', what: 'every Sv39 root entry points back to the root (4 KiB)', arch: 'riscv64',
      bytes: image(1, (set) => { for (let i = 0; i < 512; i++) set(8 * i, 1n); }),
      regs: sv39Regs, treeLeaves: 0,
    },
    {
      name: 'riscv64-fan-out', what: 'Sv39 512-way fan-out, user RWX 4 KiB pages (16 KiB)', arch: 'riscv64',
      bytes: fanOut(3, (pa) => (BigInt(pa / 4096) << 10n) | 1n, (i) => (BigInt(i) << 10n) | 0xdfn),
      regs: sv39Regs, treeLeaves: 512 ** 3,
    },
    {
      name: 'aarch64-fan-out', what: '4K-granule 48-bit 512-way fan-out, pages (20 KiB)', arch: 'aarch64',
      bytes: fanOut(4, (pa) => BigInt(pa) | 3n, (i) => BigInt(4096 * i) | 3n | (1n << 10n)),
      regs: a64Regs, treeLeaves: 512 ** 4,
    },
    {
      name: 'aarch64-self-root', what: 'every L0 entry points back to L0 (4 KiB)', arch: 'aarch64',
      bytes: image(1, (set) => { for (let i = 0; i < 512; i++) set(8 * i, 3n); }),
      regs: a64Regs, treeLeaves: 0,
    },
  ];
}

/** The ptview options that read an image written at `file`. */
export function hostileArgs(img: HostileImage, file: string): string[] {
  return ['--raw', file, '--base', '0', '--arch', img.arch, ...img.regs.flatMap(([k, v]) => ['--reg', `${k.toUpperCase()}=0x${v.toString(16)}`])];
}

export function writeCorpus(dir: string): { img: HostileImage; file: string }[] {
  fs.mkdirSync(dir, { recursive: true });
  return hostileCorpus().map((img) => {
    const file = path.join(dir, `${img.name}.bin`);
    fs.writeFileSync(file, img.bytes);
    fs.writeFileSync(path.join(dir, `${img.name}.args`), hostileArgs(img, file).join(' ') + '\n');
    return { img, file };
  });
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: node build/test/support/hostile.js DIR\n');
    process.exit(2);
  }
  for (const { img, file } of writeCorpus(dir)) process.stdout.write(`${file}: ${img.what}\n`);
}
