// Audits on effective rights, in one walk, without keeping Leaf objects:
// - W+X with Linux's rule (CONFIG_DEBUG_WX / ptdump_check_wx): effective write and not
//   execute-disabled. A page counts when any privilege may execute it, so on AArch64 a kernel
//   page without UXN counts (the format grants UserExec), as Linux's arm64 check does. Pages are
//   counted in units of the format's smallest page, like Linux's PAGE_SIZE count. Kernel-half
//   (or half-less) ranges are errors; user-half ranges warnings (JITs do this on purpose).
// - user-accessible pages in the kernel half;
// - writable aliases of write-protected kernel code (a read-only executable kernel-half VA and
//   another, writable VA mapping the same PA), found through a PA-sorted index of the writable
//   leaves. User code is also mapped writable by Linux's direct map, by design: those aliases
//   are one info count, not findings;
// - device memory (UC / Device / IO outside RAM: MMIO mapped on purpose) named as such, and
//   cacheable mappings outside RAM (ROM, firmware tables, absent memory) as info;
// - every walker diagnostic: reserved bits, tables outside RAM, failed reads, recursive slots,
//   misaligned roots.
import { PhysAddr, hex, sizeLabel } from '../addr';
import { ANY_WRITE, PagingFormat, Perm, USER_ANY, levelSize } from '../format';
import { RamRange } from '../memory';
import { AddressSpace, Root } from '../space';
import { FoldAlgebra, FoldLimitError, countAlgebra, expansion, fold, foldRanges, mergeAlgebra } from '../graph';
import { Diagnostic, Leaf, TableStore, walk } from '../walker';
import { isUpperHalf } from '../space';
import { MergedRange, RangeMerger, rangeEndVa, rangeVa } from './merge';
import { ReverseIndexBuilder } from './reverse';

export type FindingKind =
  | 'w+x-check' // the Linux-style summary line, always first
  | 'w+x'
  | 'no-nx' // nothing in the space is execute-disabled: W+X counts every writable page
  | 'user-kernel'
  | 'writable-alias-of-exec'
  | 'user-code-writable-alias' // info: how many user code pages the kernel can also write
  | 'device-mapping'
  | 'leaf-outside-ram'
  | 'checks-skipped' // per-leaf checks not run: the tables expand beyond the leaf bound
  | Diagnostic['kind'];

export interface Finding {
  severity: 'error' | 'warning' | 'info';
  kind: FindingKind;
  message: string;
  /** Root name; the summary names every root walked, comma-separated. */
  root: string;
  /** First VA, exclusive end VA, first PA (0x-hex). */
  va?: string;
  end?: string;
  pa?: string;
  /** Level name of the entries concerned. */
  level?: string;
  /** Pages concerned, in units of the format's smallest page (W+X). */
  pages?: number;
  /** writable-alias-of-exec: the writable VA of the first byte (and its root when it differs). */
  aliasVa?: string;
  aliasRoot?: string;
}

export interface AuditOptions {
  readonly signal?: AbortSignal;
  /** Only these roots (default: every root of the space). */
  readonly roots?: readonly Root[];
  /**
   * Beyond this many leaves (shared subtrees can expand a few tables to 512^4 leaves) the audit
   * works on merged ranges from the graph of tables: W+X, user-kernel and diagnostics stay exact,
   * the per-leaf checks (writable aliases, leaves outside RAM) are skipped and say so.
   */
  readonly maxLeaves?: number;
}

/** Default for AuditOptions.maxLeaves: the alias index keeps ~50 bytes per leaf. */
export const AUDIT_LEAF_LIMIT = 2 ** 22;

export interface AuditReport {
  findings: Finding[];
  /** "Checked W+X mappings: passed, no W+X pages found." or "... FAILED, N W+X pages found." */
  summary: string;
  wxPages: number;
  leaves: number;
}

const EXEC = Perm.Exec | Perm.UserExec;

function smallestPage(f: PagingFormat): number {
  return levelSize(f, f.levels.length - 1);
}

function ramCoverage(ram: readonly RamRange[], pa: number, size: number): 'inside' | 'partly' | 'outside' {
  const end = pa + size;
  let overlap = false;
  for (const r of ram) {
    if (pa >= r.start && end <= r.end) return 'inside';
    if (pa < r.end && end > r.start) overlap = true;
  }
  return overlap ? 'partly' : 'outside';
}

function rangeFinding(r: MergedRange, kind: FindingKind, severity: Finding['severity'], what: string, pages?: number): Finding {
  const va = rangeVa(r);
  const end = rangeEndVa(r);
  const f: Finding = {
    severity, kind, root: r.root.name, va: hex(va), end: hex(end), pa: hex(r.pa), level: r.root.format.levels[r.level].name,
    message: `${hex(va)}-${hex(end)} ${sizeLabel(r.size)} (${r.pages} ${r.root.format.levels[r.level].name} entr${r.pages > 1 ? 'ies' : 'y'}): ${what}`,
  };
  if (pages !== undefined) f.pages = pages;
  return f;
}

/** Runs every check; the findings list starts with the W+X summary. */
export async function auditReport(space: AddressSpace, store: TableStore, opts: AuditOptions = {}): Promise<AuditReport> {
  const roots = opts.roots ?? space.roots;
  const ram = store.memory.ram;
  const wx = new RangeMerger();
  const userKernel = new RangeMerger();
  const outside = new RangeMerger({ requirePaContiguous: true });
  const devices = new RangeMerger({ requirePaContiguous: true });
  const partly = new RangeMerger({ requirePaContiguous: true });
  const writable = new ReverseIndexBuilder();
  const executable = new ReverseIndexBuilder();
  const userCode = new ReverseIndexBuilder();
  const diags: Diagnostic[] = [];
  // Diagnostics deduplicated as they stream (a shared subtree's are already reported once).
  const seenDiag = new Set<string>();
  const onDiag = (d: Diagnostic): void => {
    const k = `${d.root.name}\n${d.message}`;
    if (seenDiag.has(k)) return;
    seenDiag.add(k);
    diags.push(d);
  };
  const limit = opts.maxLeaves ?? AUDIT_LEAF_LIMIT;
  const size = await expansion(roots, store, undefined, opts.signal);
  if (size.leaves > limit || size.tables > limit) return foldedAudit(roots, store, size.leaves, onDiag, diags, opts.signal);
  let leaves = 0;
  let nonExec = 0;
  let wxPagesKernel = 0;
  let wxPagesUser = 0;
  let pageFormat: PagingFormat | undefined;
  let pageUnit = 4096;

  const onLeaf = (l: Leaf): void => {
    leaves++;
    const p = l.perms;
    if ((p & EXEC) === 0) nonExec++;
    // Only write-protected code can be defeated by a writable alias; W+X code is reported as W+X.
    else if ((p & ANY_WRITE) === 0) (kernelSide(l.root, l.linear) ? executable : userCode).push(l);
    if ((p & ANY_WRITE) !== 0) {
      writable.push(l);
      if ((p & EXEC) !== 0) {
        wx.push(l);
        if (l.root.format !== pageFormat) {
          pageFormat = l.root.format;
          pageUnit = smallestPage(pageFormat);
        }
        const n = Math.max(1, l.size / pageUnit);
        if (kernelSide(l.root, l.linear)) wxPagesKernel += n;
        else wxPagesUser += n;
      }
    }
    if ((p & USER_ANY) !== 0 && isUpperHalf(l.root, l.linear)) userKernel.push(l);
    const cov = ramCoverage(ram, l.pa, l.size);
    if (cov === 'outside' && l.root.format.deviceMemType(l.memType)) devices.push(l);
    else if (cov === 'outside') outside.push(l);
    else if (cov === 'partly') partly.push(l);
  };
  await walk(roots, store, { leaf: onLeaf, diagnostic: onDiag }, { signal: opts.signal });
  return report(roots, {
    leaves, nonExec, wxPagesKernel, wxPagesUser, wx: wx.finish(), userKernel: userKernel.finish(), devices: devices.finish(), outside: outside.finish(),
    partly: partly.finish(), writable, executable, userCode,
  }, diags);
}

/** What the per-leaf checks collect: from a leaf walk (auditReport) or the graph (AuditFold). */
interface Collected {
  leaves: number;
  nonExec: number;
  wxPagesKernel: number;
  wxPagesUser: number;
  wx: readonly MergedRange[];
  userKernel: readonly MergedRange[];
  devices: readonly MergedRange[];
  outside: readonly MergedRange[];
  partly: readonly MergedRange[];
  writable: ReverseIndexBuilder;
  executable: ReverseIndexBuilder;
  userCode: ReverseIndexBuilder;
}

function report(roots: readonly Root[], c: Collected, diags: readonly Diagnostic[]): AuditReport {
  const findings: Finding[] = [];
  const { summary, wxPages } = wxSummary(findings, roots, c.wxPagesKernel, c.wxPagesUser);
  if (wxPages > 0 && c.nonExec === 0) {
    findings.push({
      severity: 'info', kind: 'no-nx', root: roots.map((r) => r.name).join(','),
      message: 'no mapping in this space is execute-disabled (NX unsupported or disabled?): every writable page counts as W+X; Linux skips the check when NX is missing',
    });
  }
  rangeFindings(findings, c.wx, c.userKernel);
  // A loop, not push(...spread): ~131 k aliases overflowed the stack as call arguments.
  for (const f of writableAliases(c.executable, c.writable)) findings.push(f);
  const userAliases = writableAliases(c.userCode, c.writable);
  if (userAliases.length) {
    const bytes = userAliases.reduce((n, f) => n + Number(BigInt(f.end!) - BigInt(f.va!)), 0);
    findings.push({
      severity: 'info', kind: 'user-code-writable-alias', root: roots.map((r) => r.name).join(','),
      message: `${sizeLabel(bytes)} of user code (${userAliases.length} run${userAliases.length > 1 ? 's' : ''}) is also mapped writable elsewhere, e.g. by the kernel's direct map (Linux maps all RAM there by design)`,
    });
  }
  for (const r of c.devices) {
    const type = r.root.format.memTypes[r.memType] ?? `#${r.memType}`;
    findings.push(rangeFinding(r, 'device-mapping', 'info', `device memory: maps ${hex(r.pa)}-${hex(r.pa + r.size)} outside guest RAM as ${type} (MMIO)`));
  }
  for (const r of c.outside) {
    const type = r.root.format.memTypes[r.memType] ?? `#${r.memType}`;
    // Linux maps the legacy first MiB (BIOS ROM, VGA) and memremaps firmware tables cacheable on
    // purpose: worth knowing, not acting on.
    findings.push(rangeFinding(r, 'leaf-outside-ram', 'info', `maps ${hex(r.pa)}-${hex(r.pa + r.size)}, outside guest RAM (ROM, firmware or absent memory), as ${type}`));
  }
  for (const r of c.partly) {
    findings.push(rangeFinding(r, 'leaf-outside-ram', 'info', `maps ${hex(r.pa)}-${hex(r.pa + r.size)}, partly outside guest RAM`));
  }
  diagFindings(findings, diags);
  return { findings, summary, wxPages, leaves: c.leaves };
}

function wxSummary(findings: Finding[], roots: readonly Root[], kernel: number, user: number): { summary: string; wxPages: number } {
  const wxPages = kernel + user;
  const summary = wxPages
    ? `Checked W+X mappings: FAILED, ${wxPages} W+X pages found.`
    : 'Checked W+X mappings: passed, no W+X pages found.';
  findings.push({
    severity: kernel ? 'error' : user ? 'warning' : 'info', kind: 'w+x-check', root: roots.map((r) => r.name).join(','),
    message: user && kernel ? `${summary} (${kernel} kernel, ${user} user)` : summary, pages: wxPages,
  });
  return { summary, wxPages };
}

function rangeFindings(findings: Finding[], wx: readonly MergedRange[], userKernel: readonly MergedRange[]): void {
  for (const r of wx) {
    const who = r.perms & Perm.Exec && r.perms & Perm.UserExec ? 'kernel and user' : r.perms & Perm.Exec ? 'kernel' : 'user';
    const unit = smallestPage(r.root.format);
    findings.push(rangeFinding(r, 'w+x', kernelSide(r.root, r.start) ? 'error' : 'warning', `writable and executable (${who} execute)`, Math.max(1, r.size / unit)));
  }
  for (const r of userKernel) {
    findings.push(rangeFinding(r, 'user-kernel', 'warning', `kernel-half mapping accessible from user mode (${r.perms & Perm.UserExec ? 'user-executable' : 'user data access'})`));
  }
}

function diagFindings(findings: Finding[], diags: readonly Diagnostic[]): void {
  for (const d of diags) {
    findings.push({
      severity: d.kind === 'recursive' ? 'info' : d.kind === 'qemu-lenient' ? 'warning' : 'error', kind: d.kind, root: d.root.name,
      va: hex(d.root.toVirt(d.linear)), level: d.root.format.levels[d.level]?.name, message: d.message,
    });
  }
}

/**
 * The audit on merged ranges from the graph of tables, for tables that expand beyond the leaf
 * bound. A merged range has one set of rights, so W+X and user-kernel are the same as from the
 * leaves; W+X pages are counted per range.
 */
async function foldedAudit(roots: readonly Root[], store: TableStore, expandedLeaves: number, onDiag: (d: Diagnostic) => void, diags: Diagnostic[], signal?: AbortSignal): Promise<AuditReport> {
  let ranges: MergedRange[] = [];
  let tooMany = '';
  try {
    ranges = await foldRanges(roots, store, { diagnostic: onDiag, signal });
  } catch (e) {
    if (!(e instanceof FoldLimitError)) throw e;
    tooMany = e.message;
    // Still report every malformed table, once.
    await fold(roots, store, countAlgebra, { diagnostic: onDiag, signal });
  }
  const wx: MergedRange[] = [];
  const userKernel: MergedRange[] = [];
  let kernel = 0;
  let user = 0;
  let nonExec = false;
  for (const r of ranges) {
    if ((r.perms & EXEC) === 0) nonExec = true;
    if ((r.perms & ANY_WRITE) !== 0 && (r.perms & EXEC) !== 0) {
      wx.push(r);
      const n = Math.max(1, r.size / smallestPage(r.root.format));
      if (kernelSide(r.root, r.start)) kernel += n;
      else user += n;
    }
    if ((r.perms & USER_ANY) !== 0 && isUpperHalf(r.root, r.start)) userKernel.push(r);
  }
  const findings: Finding[] = [];
  if (tooMany) {
    const summary = 'W+X mappings not checked: the tables merge into too many ranges (see checks-skipped).';
    findings.push({ severity: 'warning', kind: 'w+x-check', root: roots.map((r) => r.name).join(','), message: summary, pages: 0 });
    findings.push({ severity: 'info', kind: 'checks-skipped', root: roots.map((r) => r.name).join(','), message: `the tables expand to ${expandedLeaves.toLocaleString('en-US')} leaves through shared subtrees and ${tooMany}: only malformed tables were checked` });
    diagFindings(findings, diags);
    return { findings, summary, wxPages: 0, leaves: 0 };
  }
  const { summary, wxPages } = wxSummary(findings, roots, kernel, user);
  if (wxPages > 0 && !nonExec) {
    findings.push({ severity: 'info', kind: 'no-nx', root: roots.map((r) => r.name).join(','), message: 'no mapping in this space is execute-disabled (NX unsupported or disabled?): every writable page counts as W+X; Linux skips the check when NX is missing' });
  }
  findings.push({
    severity: 'info', kind: 'checks-skipped', root: roots.map((r) => r.name).join(','),
    message: `the tables expand to ${expandedLeaves.toLocaleString('en-US')} leaves through shared subtrees: checked on ${ranges.length} merged ranges; writable aliases of code and leaves outside RAM were not checked (they need every leaf)`,
  });
  rangeFindings(findings, wx, userKernel);
  diagFindings(findings, diags);
  return { findings, summary, wxPages, leaves: expandedLeaves };
}

/** The checks as a list of findings; the first is the Linux-style W+X summary. */
export async function audit(space: AddressSpace, store: TableStore, opts: AuditOptions = {}): Promise<Finding[]> {
  return (await auditReport(space, store, opts)).findings;
}

// Kernel side: the upper half, or anywhere in a space without halves (32-bit x86, where W+X
// pages are errors as Linux counts them).
function kernelSide(root: Root, linear: number): boolean {
  if (isUpperHalf(root, linear)) return true;
  return root.half === undefined && !isUpperHalf(root, 2 ** root.inputBits - 4096);
}

interface AliasRun {
  xRoot: Root;
  wRoot: Root;
  xStart: number;
  xEnd: number;
  wStart: number;
  pa: number;
  wPerms: number;
}

/**
 * Pairs (executable VA, writable VA) mapping the same physical bytes, merged into runs where both
 * VAs advance together (a whole kernel text and its direct-map alias give one finding).
 */
function writableAliases(execB: ReverseIndexBuilder, writB: ReverseIndexBuilder): Finding[] {
  if (execB.n === 0 || writB.n === 0) return [];
  const wIndex = writB.finish();
  const open = new Map<string, AliasRun>();
  const done: AliasRun[] = [];
  for (let x = 0; x < execB.n; x++) {
    const xRoot = execB.roots[execB.rootIdx[x]];
    const xPa = execB.pa[x];
    const xSize = execB.size[x];
    const xLin = execB.linear[x];
    wIndex.forEachOverlap(xPa, xPa + xSize, (w) => {
      const wRoot = wIndex.root(w);
      const wLin = wIndex.linear(w);
      if (wRoot === xRoot && wLin === xLin) return; // the same leaf (a W+X page, reported as such)
      const wPa = wIndex.pa(w);
      const lo = Math.max(xPa, wPa);
      const hi = Math.min(xPa + xSize, wPa + wIndex.size(w));
      const xStart = xLin + (lo - xPa);
      const wStart = wLin + (lo - wPa);
      const key = `${execB.rootIdx[x]}:${wRoot.name}:${wStart - xStart}`;
      const run = open.get(key);
      if (run && run.xEnd === xStart && run.wPerms === wIndex.perms(w)) {
        run.xEnd += hi - lo;
        return;
      }
      if (run) done.push(run);
      open.set(key, { xRoot, wRoot, xStart, xEnd: xStart + (hi - lo), wStart, pa: lo, wPerms: wIndex.perms(w) });
    });
  }
  done.push(...open.values());
  done.sort((a, b) => (a.xRoot === b.xRoot ? 0 : a.xRoot.name < b.xRoot.name ? -1 : 1) || a.xStart - b.xStart || a.wStart - b.wStart);
  return done.map((r) => {
    const xva = BigInt(r.xRoot.toVirt(r.xStart));
    const wva = BigInt(r.wRoot.toVirt(r.wStart));
    const len = r.xEnd - r.xStart;
    const where = r.wRoot === r.xRoot ? '' : ` (${r.wRoot.name})`;
    return {
      severity: 'warning' as const, kind: 'writable-alias-of-exec' as const, root: r.xRoot.name,
      va: hex(xva), end: hex(xva + BigInt(len)), pa: hex(r.pa), aliasVa: hex(wva), aliasRoot: r.wRoot.name,
      message: `executable ${hex(xva)}-${hex(xva + BigInt(len))} ${sizeLabel(len)} is also writable at ${hex(wva)}${where}: both map physical ${hex(r.pa)}-${hex(r.pa + len)}`,
    };
  });
}

/**
 * The per-leaf checks as a fold over the graph of tables (graph.ts): each subtree's leaves are
 * classified once, however often it is referenced, into merged ranges per check (PA-contiguous
 * where the check needs each page's PA). A check that depends on where a leaf is (kernel side,
 * upper half) is decided on the merged ranges at the end: a merged range never crosses the
 * halves. Linux x86_64's ESPfix area (65,536 leaves through repeated tables) thus costs its 32
 * distinct entries, not 65,536 leaves. The report equals auditReport's (unit-tested on random
 * table graphs); it is for spaces within the leaf bound (the alias index expands every writable
 * and every executable read-only page).
 */
export interface AuditSummary {
  leaves: number;
  nonExec: number;
  wx: ReturnType<ReturnType<typeof mergeAlgebra>['empty']>;
  user: AuditSummary['wx'];
  devices: AuditSummary['wx'];
  outside: AuditSummary['wx'];
  partly: AuditSummary['wx'];
  writable: AuditSummary['wx'];
  execRo: AuditSummary['wx'];
}

export function auditAlgebra(ram: readonly RamRange[]): FoldAlgebra<AuditSummary> {
  const any = mergeAlgebra();
  const byPa = mergeAlgebra({ requirePaContiguous: true });
  const part = (l: Leaf, k: number): Leaf => (k === 0 ? l : { ...l, linear: l.linear + k * l.size, pa: (l.pa + k * l.size) as PhysAddr, index: l.index + k });
  return {
    contiguousRuns: true,
    empty: () => ({
      leaves: 0, nonExec: 0, wx: any.empty(0), user: any.empty(0), devices: byPa.empty(0), outside: byPa.empty(0), partly: byPa.empty(0),
      writable: byPa.empty(0), execRo: byPa.empty(0),
    }),
    run: (s, l, count, contig, lastPa) => {
      s.leaves += count;
      const p = l.perms;
      if ((p & EXEC) === 0) s.nonExec += count;
      else if ((p & ANY_WRITE) === 0) byPa.run(s.execRo, l, count, contig, lastPa);
      if ((p & ANY_WRITE) !== 0) {
        byPa.run(s.writable, l, count, contig, lastPa);
        if ((p & EXEC) !== 0) any.run(s.wx, l, count, contig, lastPa);
      }
      if ((p & USER_ANY) !== 0) any.run(s.user, l, count, contig, lastPa);
      // RAM coverage per page; a run wholly inside one RAM range (nearly all) in one step.
      if (ramCoverage(ram, l.pa, count * l.size) === 'inside') return;
      let k0 = 0;
      let cls = '';
      const flush = (k: number): void => {
        if (k === k0 || cls === 'inside') return;
        const first = part(l, k0);
        const list = cls === 'device' ? s.devices : cls === 'outside' ? s.outside : s.partly;
        byPa.run(list, first, k - k0, true, first.pa + (k - k0 - 1) * l.size);
      };
      for (let k = 0; k < count; k++) {
        const cov = ramCoverage(ram, l.pa + k * l.size, l.size);
        const c = cov === 'outside' && l.root.format.deviceMemType(l.memType) ? 'device' : cov;
        if (c !== cls) {
          flush(k);
          k0 = k;
          cls = c;
        }
      }
      flush(count);
    },
    append: (s, c, offset) => {
      s.leaves += c.leaves;
      s.nonExec += c.nonExec;
      any.append(s.wx, c.wx, offset);
      any.append(s.user, c.user, offset);
      byPa.append(s.devices, c.devices, offset);
      byPa.append(s.outside, c.outside, offset);
      byPa.append(s.partly, c.partly, offset);
      byPa.append(s.writable, c.writable, offset);
      byPa.append(s.execRo, c.execRo, offset);
    },
  };
}

/** The report from each root's AuditSummary (in root order) and the fold's diagnostics. */
export function auditFromSummaries(roots: readonly Root[], sums: readonly (AuditSummary | undefined)[], diagnostics: readonly Diagnostic[]): AuditReport {
  const c: Collected = {
    leaves: 0, nonExec: 0, wxPagesKernel: 0, wxPagesUser: 0, wx: [], userKernel: [], devices: [], outside: [], partly: [],
    writable: new ReverseIndexBuilder(), executable: new ReverseIndexBuilder(), userCode: new ReverseIndexBuilder(),
  };
  const wx: MergedRange[] = [];
  const userKernel: MergedRange[] = [];
  const devices: MergedRange[] = [];
  const outside: MergedRange[] = [];
  const partly: MergedRange[] = [];
  // Each page of a PA-contiguous range, as the leaf walk would have pushed it (no object per page:
  // a real kernel's writable pages are tens of thousands at every stop).
  const pages = (b: ReverseIndexBuilder, r: MergedRange): void => b.pushPages(r.root, r.start, r.pa, r.leafSize, r.pages, r);
  sums.forEach((s) => {
    if (!s) return;
    c.leaves += s.leaves;
    c.nonExec += s.nonExec;
    for (const r of s.wx.ranges) {
      wx.push(r);
      const n = r.pages * Math.max(1, r.leafSize / smallestPage(r.root.format));
      if (kernelSide(r.root, r.start)) c.wxPagesKernel += n;
      else c.wxPagesUser += n;
    }
    for (const r of s.user.ranges) if (isUpperHalf(r.root, r.start)) userKernel.push(r);
    for (const r of s.devices.ranges) devices.push(r);
    for (const r of s.outside.ranges) outside.push(r);
    for (const r of s.partly.ranges) partly.push(r);
    for (const r of s.execRo.ranges) pages(kernelSide(r.root, r.start) ? c.executable : c.userCode, r);
    for (const r of s.writable.ranges) pages(c.writable, r);
  });
  return report(roots, { ...c, wx, userKernel, devices, outside, partly }, diagnostics);
}
