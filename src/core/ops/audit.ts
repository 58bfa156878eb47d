// Audits with Linux's rules on effective rights: W+X (on AArch64 kernel pages without UXN count,
// since EL0 could execute them), user-accessible kernel-half pages, writable aliases of executable
// physical pages, and every walker diagnostic (reserved bits, tables outside RAM, recursion).
import { hex, sizeLabel } from '../addr';
import { Perm } from '../format';
import { inRam } from '../memory';
import { AddressSpace } from '../space';
import { Diagnostic, Leaf, TableStore, walk } from '../walker';
import { isUpperHalf } from './filter';
import { RangeMerger, MergedRange } from './merge';
import { ReverseIndex } from './reverse';

export type FindingKind =
  | 'w+x'
  | 'user-kernel'
  | 'writable-alias-of-exec'
  | 'leaf-outside-ram'
  | Diagnostic['kind'];

export interface Finding {
  severity: 'error' | 'warning' | 'info';
  kind: FindingKind;
  root: string;
  message: string;
  va?: string;
  end?: string;
  pa?: string;
  level?: string;
}

const EXEC = Perm.Exec | Perm.UserExec;

export interface AuditResult {
  findings: Finding[];
  /** Linux-style summary line for W+X. */
  wxSummary: string;
  leaves: number;
}

export async function audit(space: AddressSpace, store: TableStore, opts: { signal?: AbortSignal } = {}): Promise<AuditResult> {
  const leaves: Leaf[] = [];
  const diags: Diagnostic[] = [];
  await walk(space.roots, store, { leaf: (l) => leaves.push(l), diagnostic: (d) => diags.push(d) }, { signal: opts.signal });
  const findings: Finding[] = [];
  const rangeFinding = (r: MergedRange, kind: FindingKind, severity: Finding['severity'], what: string): Finding => {
    const va = BigInt(r.root.toVirt(r.start));
    return {
      severity, kind, root: r.root.name, va: hex(va), end: hex(va + BigInt(r.end - r.start)), pa: hex(r.pa),
      level: r.root.format.levels[r.level].name,
      message: `${hex(va)}-${hex(va + BigInt(r.end - r.start))} (${sizeLabel(r.end - r.start)}, ${r.pages} page${r.pages > 1 ? 's' : ''}): ${what}`,
    };
  };

  let wxPages = 0;
  const wx = new RangeMerger();
  const userKernel = new RangeMerger();
  for (const l of leaves) {
    if (l.perms & Perm.Write && l.perms & EXEC) {
      wx.push(l);
      wxPages += l.size / 4096;
    }
    if (l.perms & Perm.User && isUpperHalf(l.root, l.linear)) userKernel.push(l);
  }
  for (const r of wx.finish()) {
    const who = r.perms & Perm.Exec && r.perms & Perm.UserExec ? 'kernel and user' : r.perms & Perm.Exec ? 'kernel' : 'user';
    findings.push(rangeFinding(r, 'w+x', 'error', `writable and executable (${who})`));
  }
  for (const r of userKernel.finish()) findings.push(rangeFinding(r, 'user-kernel', 'warning', 'kernel-half mapping accessible from user mode'));

  // Writable aliases of executable frames: the same PA reachable writable through another VA.
  const index = new ReverseIndex(leaves.filter((l) => l.perms & Perm.Write));
  const seen = new Set<string>();
  for (const x of leaves) {
    if (!(x.perms & EXEC) || x.perms & Perm.Write) continue;
    for (const w of index.overlapping(x.pa, x.pa + x.size)) {
      const key = `${x.root.name}:${x.linear}:${w.root.name}:${w.linear}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const xva = hex(x.root.toVirt(x.linear));
      const wva = hex(w.root.toVirt(w.linear));
      const lo = Math.max(x.pa, w.pa);
      findings.push({
        severity: 'warning', kind: 'writable-alias-of-exec', root: x.root.name, va: xva, pa: hex(lo),
        message: `executable ${xva} (${x.root.name}) and writable ${wva} (${w.root.name}) map the same physical ${hex(lo)}`,
      });
    }
  }

  const outside = new RangeMerger();
  for (const l of leaves) if (!inRam(store.memory.ram, l.pa, Math.min(l.size, 4096))) outside.push(l);
  for (const r of outside.finish()) {
    findings.push(rangeFinding(r, 'leaf-outside-ram', 'info', `maps ${hex(r.pa)}…, outside guest RAM (MMIO or absent memory)`));
  }
  for (const d of diags) {
    findings.push({
      severity: d.kind === 'recursive' ? 'info' : 'error', kind: d.kind, root: d.root.name,
      va: hex(d.root.toVirt(d.linear)), level: d.root.format.levels[d.level]?.name, message: d.message,
    });
  }
  const wxSummary = wxPages
    ? `Checked W+X mappings: FAILED, ${wxPages} W+X pages found.`
    : 'Checked W+X mappings: passed, no W+X pages found.';
  return { findings, wxSummary, leaves: leaves.length };
}
