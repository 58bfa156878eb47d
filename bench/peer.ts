// gdb-pt-dump (`../shared/peers/gdb-pt-dump`) finds QEMU with `pgrep qemu-system` at every `pt`;
// with more than one match it adds a chardev to the guest and scans /proc of every match, a slower
// path that would not be the same measurement. The benches time it only while exactly one
// qemu-system process (their own guest) runs, and otherwise skip its columns with the reason.
import { execFile } from 'node:child_process';

/** How long, in all, to wait for other QEMUs to go away before skipping the peer
 * (PTVIEW_BENCH_QEMU_WAIT_S): the budget is shared by every guest and round, so a busy machine
 * cannot stretch the bench by more than this. */
let waitBudgetMs = Number(process.env.PTVIEW_BENCH_QEMU_WAIT_S ?? 180) * 1000;

/** `pgrep -c qemu-system`: what gdb-pt-dump sees (it runs `pgrep qemu-system`). */
export function qemuCount(): Promise<number> {
  return new Promise((resolve, reject) =>
    execFile('pgrep', ['-c', 'qemu-system'], (err, stdout) => {
      const n = Number.parseInt(stdout.trim(), 10);
      // pgrep exits 1 (and prints 0) when nothing matches.
      if (Number.isNaN(n)) reject(err ?? new Error(`pgrep -c printed ${JSON.stringify(stdout)}`));
      else resolve(n);
    }),
  );
}

/** Waits until at most `want` qemu-system processes run, up to `ms` and the remaining budget;
 * returns the last count. */
export async function waitForQemus(want: number, ms: number): Promise<number> {
  const t0 = Date.now();
  const end = t0 + Math.min(ms, waitBudgetMs);
  let n = await qemuCount();
  while (n > want && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 2000));
    n = await qemuCount();
  }
  waitBudgetMs = Math.max(0, waitBudgetMs - (Date.now() - t0));
  return n;
}

export const tooMany = (n: number) =>
  `${n} qemu-system processes on the machine (other work running guests); gdb-pt-dump needs exactly one (it finds QEMU with pgrep at every pt, and with several takes a slower chardev-and-/proc-scan path)`;

