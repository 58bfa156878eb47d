// Reads registers the way a user's GDB sees them: real gdb-multiarch attached to QEMU's gdbstub
// (QEMU exposes the AArch64 system registers from its cpreg table, e.g. TTBR0_EL1, SCTLR).
// Independent of src/debug on purpose: this is the oracle the core's inputs come from.
import { spawn } from 'node:child_process';

/** `p/x $NAME` for each name, in one batch GDB session; undefined where GDB answers `void`. */
export async function gdbRegisters(port: number, names: readonly string[], arch = 'aarch64'): Promise<Map<string, bigint | undefined>> {
  const args = ['-nx', '-batch', '-ex', `set architecture ${arch}`, '-ex', `target remote 127.0.0.1:${port}`];
  for (const n of names) args.push('-ex', `p/x $${n}`);
  const out = await new Promise<string>((resolve, reject) => {
    const p = spawn('gdb-multiarch', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (text += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), 30000);
    p.on('error', (e) => reject(e));
    p.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(text);
      else reject(new Error(`gdb-multiarch exited ${code}: ${err}${text}`));
    });
  });
  // "$3 = 0x5b5103510" or "$6 = void", numbered in command order
  const values = new Map<number, string>();
  for (const m of out.matchAll(/^\$(\d+) = (.*)$/gm)) values.set(Number(m[1]), m[2].trim());
  const regs = new Map<string, bigint | undefined>();
  names.forEach((n, i) => {
    const v = values.get(i + 1);
    if (v === undefined) throw new Error(`gdb printed no value for $${n}:\n${out}`);
    regs.set(n.toLowerCase(), v === 'void' ? undefined : BigInt.asUintN(64, BigInt(v)));
  });
  return regs;
}
