// Issue 10: everything one architecture knows lives in its module (src/core/arch, with the entry
// formats in src/core/formats), reached through one registry; nothing else switches on the
// architecture. The scan below is the guard: an architecture's name or one of its registers as a
// string literal outside the modules is how a switch looks in this code base.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { archEdit, archModule, archModules, arches, findArch, liveFamilies, liveRootLabels } from '../../../src/core/arch';
import { spaceFromRegisters } from '../../../src/core/formats';

const SRC = path.resolve(__dirname, '../../../../src');
const MODULES = [path.join(SRC, 'core', 'arch'), path.join(SRC, 'core', 'formats')];
// An architecture or family name, or one of an architecture's registers, in quotes.
const LITERAL =
  /(['"`])(x86_64|x86|i[3-6]86|aarch64|arm64|riscv64|riscv32|riscv|cr[0-48]|efer|ia32_pat|pkru|eflags|rflags|satp|sstatus|mstatus|priv|cpsr|sctlr(_el[12])?|v?ttbr[01](_el[12])?|v?tcr_el[12]|mair_el[12]|hcr_el2|id_aa64mmfr[01]_el1|rip|eip)\1/i;
// Allowed outside the modules, each for a reason.
const ALLOWED: readonly { file: string; line: RegExp; why: string }[] = [
  { file: 'core/format.ts', line: /^export type Arch =/, why: 'the Arch type itself' },
  { file: 'debug/gdbAttach.ts', line: /os\.arch\(\)/, why: "the host's architecture (which GDB binary), not the guest's" },
];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Lines with an architecture literal (comments skipped), as "file:line: text". */
function literals(files: readonly string[]): string[] {
  const out: string[] = [];
  for (const f of files) {
    const rel = path.relative(SRC, f).split(path.sep).join('/');
    fs.readFileSync(f, 'utf8').split('\n').forEach((text, i) => {
      const code = text.trim();
      if (code.startsWith('//') || code.startsWith('*') || code.startsWith('/*')) return;
      if (!LITERAL.test(code)) return;
      if (ALLOWED.some((a) => a.file === rel && a.line.test(code))) return;
      out.push(`${rel}:${i + 1}: ${code}`);
    });
  }
  return out;
}

describe('architecture modules', () => {
  it('nothing outside src/core/arch and src/core/formats names an architecture or its registers in a string literal', () => {
    const all = tsFiles(SRC);
    const outside = all.filter((f) => !MODULES.some((m) => f.startsWith(m + path.sep)));
    assert.ok(outside.length > 50 && outside.length < all.length, `scanned ${outside.length} of ${all.length} files`);
    // The scan sees what it looks for: the modules themselves are full of such literals.
    assert.ok(literals(all.filter((f) => !outside.includes(f))).length >= 10);
    assert.deepEqual(literals(outside), []);
  });

  it('loads the modules only through src/core/arch/index.ts, whose import order is the registration order', () => {
    // Imported first on its own, one module would register ahead of the others and change the
    // probe order of live registers and the lists in messages.
    const direct = tsFiles(SRC)
      .filter((f) => path.dirname(f) !== MODULES[0])
      .flatMap((f) => [...fs.readFileSync(f, 'utf8').matchAll(/from\s+'([^']*\/arch\/(?:x86|aarch64|riscv))'/g)].map((m) => `${path.relative(SRC, f)}: ${m[1]}`));
    assert.deepEqual(direct, []);
  });

  it('registers every architecture once, in a fixed order, with one live family per register set', () => {
    assert.deepEqual(arches(), ['x86_64', 'x86', 'aarch64', 'riscv64', 'riscv32']);
    assert.deepEqual(liveFamilies().map((f) => f.family), ['x86', 'aarch64', 'riscv']);
    assert.equal(liveRootLabels(), 'CR3 (x86), TTBR0_EL1 (AArch64) or satp (RISC-V)');
    assert.equal(findArch('mips'), undefined);
    assert.throws(() => archModule('mips' as never), /architecture 'mips' is not supported \(supported: x86_64, x86, aarch64, riscv64, riscv32\)/);
  });

  it('tells the architecture from live registers as the family reads them', () => {
    const x86 = archModule('x86').live;
    assert.equal(x86.identify(new Map([['efer', 0xd01n]]), undefined), 'x86_64'); // EFER.LMA=1
    assert.equal(x86.identify(new Map([['efer', 0x800n]]), undefined), 'x86');
    const rv = archModule('riscv64').live;
    assert.equal(rv.needsPcBytes, true);
    assert.equal(rv.identify(new Map(), 4n), 'riscv32');
    assert.equal(rv.identify(new Map(), 8n), 'riscv64');
    const a64 = new Map([['cpsr', 0x3c5n], ['sctlr', 1n], ['sctlr_el1', 2n]]);
    assert.equal(archModule('aarch64').live.identify(a64, undefined), 'aarch64');
    assert.equal(a64.get('el'), 1n); // CPSR.M[3:2]
    assert.equal(a64.has('sctlr'), false);
  });

  it('each ELF machine, kdump utsname and prstatus size is claimed by exactly one architecture', () => {
    // ELF gABI e_machine: EM_386 3, EM_X86_64 62, EM_AARCH64 183, EM_RISCV 243; EI_CLASS 1/2.
    const elf: [number, number, string][] = [[62, 2, 'x86_64'], [62, 1, 'x86'], [3, 1, 'x86'], [183, 2, 'aarch64'], [243, 2, 'riscv64'], [243, 1, 'riscv32']];
    for (const [machine, cls, want] of elf) assert.deepEqual(archModules().filter((m) => m.core.elf(machine, cls)).map((m) => m.arch), [want], `e_machine ${machine} class ${cls}`);
    assert.deepEqual(archModules().filter((m) => m.core.elf(8, 1)), []); // EM_MIPS
    const uts: [string, boolean, string][] = [['x86_64', true, 'x86_64'], ['x86_64', false, 'x86'], ['i686', false, 'x86'], ['arm64', true, 'aarch64'], ['aarch64', true, 'aarch64'], ['riscv64', true, 'riscv64'], ['riscv32', false, 'riscv32']];
    for (const [machine, is64, want] of uts) assert.deepEqual(archModules().filter((m) => m.core.utsMachine(machine, is64)).map((m) => m.arch), [want], `utsname ${machine}`);
    const sizes = archModules().map((m) => m.core.prstatusSize);
    assert.deepEqual(sizes, [336, 144, 392, 376, 204]);
  });

  it('routes archEdit through the same descriptor', () => {
    const space = spaceFromRegisters('riscv64', new Map([['satp', (8n << 60n) | 0x80000n]]));
    assert.equal(archEdit(space.roots[0]), archModule('riscv64').edit);
    assert.equal(archEdit(space.roots[0])?.flushCeiling(space.roots[0]), 64);
  });
});
