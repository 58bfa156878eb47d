// Target descriptions (GDB manual, "Target Descriptions": "Target Description Format" for
// <xi:include>, <feature>, <reg name bitsize regnum>; register numbers run on from the previous
// <reg> across features and includes unless `regnum` sets one). QEMU generates them: x86 puts
// cr0/cr3/cr4/efer in org.gnu.gdb.i386.core, AArch64 its system registers in
// org.qemu.gdb.arm.sys.regs (system-registers.xml), RISC-V satp in org.gnu.gdb.riscv.csr and
// `priv` in org.gnu.gdb.riscv.virtual.

export interface RegisterDesc {
  readonly name: string;
  readonly regnum: number;
  readonly bitsize: number;
  readonly feature: string;
}

export interface TargetDescription {
  readonly architecture?: string;
  /** By lower-case name (QEMU spells x86 names lower-case and Arm system registers upper-case). */
  readonly registers: ReadonlyMap<string, RegisterDesc>;
  readonly features: readonly string[];
}

const TAG = /<architecture>([^<]*)<\/architecture>|<feature\b[^>]*\bname="([^"]*)"|<xi:include\b[^>]*\bhref="([^"]*)"|<reg\b([^>]*)>/g;

function attr(attrs: string, name: string): string | undefined {
  return new RegExp(`\\b${name}="([^"]*)"`).exec(attrs)?.[1];
}

/**
 * Reads `annex` (target.xml) and every file it includes. A document's includes are all asked for
 * as soon as the document is read (the stub answers them back to back), then taken in document
 * order (register numbers run on across them).
 */
export async function loadTargetDescription(read: (annex: string) => Promise<string>, annex = 'target.xml'): Promise<TargetDescription> {
  const registers = new Map<string, RegisterDesc>();
  const features: string[] = [];
  let architecture: string | undefined;
  let next = 0;
  let feature = '';
  const asked = new Map<string, Promise<string>>();
  const ask = (file: string): Promise<string> => {
    let p = asked.get(file);
    if (!p) {
      p = read(file);
      p.catch(() => undefined); // awaited (and thrown) in document order, or never needed
      asked.set(file, p);
    }
    return p;
  };
  const seen = new Set<string>();
  const visit = async (file: string, depth: number): Promise<void> => {
    if (depth > 8 || seen.has(file)) return; // a loop or a runaway description
    seen.add(file);
    const text = (await ask(file)).replace(/<!--[\s\S]*?-->/g, '');
    const tags = [...text.matchAll(TAG)];
    if (depth < 8) for (const m of tags) if (m[3] !== undefined && !seen.has(m[3])) void ask(m[3]);
    for (const m of tags) {
      if (m[1] !== undefined) architecture ??= m[1].trim();
      else if (m[2] !== undefined) features.push((feature = m[2]));
      else if (m[3] !== undefined) await visit(m[3], depth + 1);
      else {
        const name = attr(m[4], 'name');
        const explicit = attr(m[4], 'regnum');
        const regnum = explicit !== undefined ? Number(explicit) : next;
        next = regnum + 1;
        if (name && !registers.has(name.toLowerCase())) registers.set(name.toLowerCase(), { name, regnum, bitsize: Number(attr(m[4], 'bitsize') ?? 0), feature });
      }
    }
  };
  await visit(annex, 0);
  return { architecture, registers, features };
}
