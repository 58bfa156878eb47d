// The Page Tables view as plain data: nodes (root / entry / chunk / message), their children read
// lazily through the core's tree module, and each row's label, description and tooltip. The
// vscode TreeDataProvider (treeView.ts) only converts these rows to TreeItems.
import { hex, sizeLabel } from '../core/addr';
import { EntryKind } from '../core/format';
import { MemoryReadError } from '../core/memory';
import { effectiveRights, provenance } from '../core/ops/explain';
import { Root } from '../core/space';
import { EntryNode, TableNode, childTable, rootTable, tableEntries } from '../core/tree';
import { Leaf, TableStore } from '../core/walker';
import { fieldsTable, md, provenanceLines, rightsLetters, rightsWords, vaRange } from './text';

export interface RootItem {
  readonly kind: 'root';
  readonly id: string;
  readonly root: Root;
  readonly table: TableNode;
  readonly strategy: string;
}
export interface EntryItem {
  readonly kind: 'entry';
  readonly id: string;
  readonly parent: PtNode;
  readonly entry: EntryNode;
}
export interface ChunkItem {
  readonly kind: 'chunk';
  readonly id: string;
  readonly parent: PtNode;
  readonly entries: readonly EntryNode[];
}
export interface MessageItem {
  readonly kind: 'message';
  readonly id: string;
  readonly parent?: PtNode;
  readonly text: string;
  readonly detail?: string;
}
export type PtNode = RootItem | EntryItem | ChunkItem | MessageItem;

export interface Row {
  readonly label: string;
  readonly description?: string;
  /**
   * Markdown. An entry's is built when read (a getter): every row of an expanded table is made
   * at each stop, its tooltip (each bit in words) only when hovered.
   */
  readonly tooltip?: string;
  readonly expandable: boolean;
  /** view/item/context `viewItem` value. */
  readonly contextValue: string;
  /** Codicon name. */
  readonly icon?: string;
  /** Theme colour id of the icon (none: the theme's). */
  readonly iconColor?: string;
}

export interface TreeOptions {
  /** Present entries only unless set (invalid entries shown too). */
  readonly showInvalid?: boolean;
  /** Tables with more shown entries than this are grouped into chunks of this many. */
  readonly chunkSize?: number;
  readonly signal?: AbortSignal;
}

const KIND_NAME = ['invalid', 'table', 'leaf', 'reserved'] as const;

export function rootItems(roots: readonly Root[], strategy: string): RootItem[] {
  return roots.map((root) => ({ kind: 'root', id: root.name, root, table: rootTable(root), strategy }));
}

function tableOf(n: PtNode): TableNode | undefined {
  if (n.kind === 'root') return n.table;
  if (n.kind === 'entry') return childTable(n.entry);
  return undefined;
}

/** Children of a node; reads at most one table (through the store, so once per stop). */
export async function children(node: PtNode, store: TableStore, opts: TreeOptions = {}): Promise<PtNode[]> {
  if (node.kind === 'chunk') return node.entries.map((e) => entryItem(node, e));
  const table = tableOf(node);
  if (!table) return [];
  const entries = await tableEntries(table, store, { all: opts.showInvalid, signal: opts.signal });
  if (entries instanceof MemoryReadError) {
    return [{ kind: 'message', id: `${node.id}/error`, parent: node, text: `cannot read ${table.levelName} table at ${hex(table.pa)}`, detail: entries.message }];
  }
  if (entries.length === 0) return [{ kind: 'message', id: `${node.id}/empty`, parent: node, text: `no present entries in ${table.levelName} at ${hex(table.pa)}` }];
  const chunk = Math.max(1, opts.chunkSize ?? 100);
  if (entries.length <= chunk) return entries.map((e) => entryItem(node, e));
  const out: ChunkItem[] = [];
  for (let i = 0; i < entries.length; i += chunk) {
    const part = entries.slice(i, i + chunk);
    out.push({ kind: 'chunk', id: `${node.id}/[${part[0].index}-${part[part.length - 1].index}]`, parent: node, entries: part });
  }
  return out;
}

function entryItem(parent: PtNode, e: EntryNode): EntryItem {
  // Chunks are not part of the id: an entry keeps its id (and expansion) when chunking changes.
  const owner = parent.kind === 'chunk' ? parent.parent : parent;
  return { kind: 'entry', id: `${owner.id}/${e.index}`, parent, entry: e };
}

/** The entry as a core Leaf (for provenance); only for leaf entries. */
export function entryLeaf(e: EntryNode): Leaf {
  const f = e.table.root.format;
  return {
    root: e.table.root, linear: e.linear, size: e.size, pa: e.target!, level: e.table.level, index: e.index,
    tablePa: e.table.pa, lo: e.lo, hi: e.hi, perms: e.perms, flags: f.leafFlags(e.lo, e.hi, e.table.level),
    memType: f.leafMemType(e.lo, e.hi, e.table.level), path: e.table.parent,
  };
}

export function memTypeOf(e: EntryNode): string {
  const f = e.table.root.format;
  const t = f.leafMemType(e.lo, e.hi, e.table.level);
  return f.memTypes[t] ?? `#${t}`;
}

export function rawOf(e: EntryNode): string {
  const f = e.table.root.format;
  const raw = (BigInt(e.hi >>> 0) << 32n) | BigInt(e.lo >>> 0);
  return hex(raw, f.entryBytes * 2);
}

export function row(n: PtNode): Row {
  switch (n.kind) {
    case 'root': {
      const f = n.root.format;
      // The mode is shown once (x86 and RISC-V roots also carry it as an info field).
      const info = n.root.info.filter(([, v]) => v !== f.mode).map(([k, v]) => `${k} ${v}`);
      return {
        label: `${n.root.name.toUpperCase()} ${hex(n.root.tablePa)}`,
        description: [f.mode, ...info, n.strategy].filter(Boolean).join(' · '),
        tooltip: [
          `**${md(n.root.name.toUpperCase())}**: ${md(f.arch)} ${md(f.mode)}, ${md(f.levels[0].name)} table at ${md(hex(n.root.tablePa))}  `,
          ...n.root.info.map(([k, v]) => `${md(k)}: ${md(v)}  `),
          `memory read with: ${md(n.strategy)}`,
        ].join('\n'),
        expandable: true, contextValue: 'root', icon: 'symbol-namespace',
      };
    }
    case 'chunk': {
      const a = n.entries[0];
      const z = n.entries[n.entries.length - 1];
      return {
        label: `[${a.index}–${z.index}]`,
        description: `${a.table.levelName} · ${n.entries.length} entries · ${hex(a.va)}–${hex(z.va + BigInt(z.size) - 1n)}`,
        expandable: true, contextValue: 'chunk', icon: 'list-tree',
      };
    }
    case 'message':
      return { label: n.text, tooltip: n.detail && md(n.detail), expandable: false, contextValue: 'message', icon: 'info' };
    case 'entry':
      return entryRow(n.entry);
  }
}

function entryRow(e: EntryNode): Row {
  const t = e.table;
  const f = t.root.format;
  const where = `${t.levelName}[${e.index}]`;
  const range = vaRange(e.va, e.size);
  // At the sidebar's default 300 px the label is all that shows: what tells rows apart comes first
  // (leaf: VA, size, rights; table entry: index and the region it covers); the rest follows in
  // the description and the tooltip.
  const end = `–${hex(e.va + BigInt(e.size) - 1n)}`;
  if (e.kind === EntryKind.Leaf) {
    const rights = effectiveRights(e.perms);
    return {
      label: `${hex(e.va)} ${sizeLabel(e.size)} ${rightsLetters(rights)}`,
      description: `${end} → ${hex(e.target!)} ${memTypeOf(e)} · ${where}`,
      get tooltip() {
        return entryTooltip(e);
      },
      expandable: false,
      contextValue: 'leaf',
      icon: rights.write && (rights.exec || rights.userExec) ? 'warning' : 'file',
    };
  }
  if (e.kind === EntryKind.Table) {
    const next = f.levels[t.level + 1]?.name ?? 'table';
    return {
      label: `${where} ${hex(e.va)} ${sizeLabel(e.size)}`,
      description: `${end} ${e.problem ? `→ ${hex(e.target!)}: ${e.problem}` : `→ ${next} @ ${hex(e.target!)} · allows ${rightsLetters(effectiveRights(e.perms))}`}`,
      get tooltip() {
        return entryTooltip(e);
      },
      expandable: !e.problem,
      contextValue: 'table',
      icon: e.problem ? 'error' : 'folder',
    };
  }
  return {
    label: `${where} ${hex(e.va)} ${sizeLabel(e.size)}`,
    description: `${range} · ` + (e.kind === EntryKind.Reserved ? `${rawOf(e)} · reserved: the CPU faults here` : `${rawOf(e)} · not present`),
    get tooltip() {
      return entryTooltip(e);
    },
    expandable: false,
    contextValue: e.kind === EntryKind.Reserved ? 'reserved' : 'invalid',
    icon: e.kind === EntryKind.Reserved ? 'error' : 'circle-slash',
  };
}

/** Markdown: where the entry is, what it maps, each bit in words, which level restricted what. */
export function entryTooltip(e: EntryNode): string {
  const t = e.table;
  const f = t.root.format;
  const out = [
    `**${md(t.levelName)}[${e.index}]** (${KIND_NAME[e.kind]}) at PA ${md(hex(e.entryPa))} = \`${rawOf(e)}\`  `,
    `VA ${md(vaRange(e.va, e.size))} (${md(sizeLabel(e.size))})  `,
  ];
  if (e.kind === EntryKind.Leaf) {
    const rights = effectiveRights(e.perms);
    out.push(`maps PA ${md(hex(e.target!))}–${md(hex(e.target! + e.size - 1))} · ${md(memTypeOf(e))}  `);
    out.push(`effective rights: **${md(rightsWords(rights))}** (${md(rightsLetters(rights))})  `);
    const p = provenanceLines(provenance(entryLeaf(e)));
    if (p.length) out.push('', '**Restricted by**', ...p.map((l) => `- ${md(l)}`));
  } else if (e.kind === EntryKind.Table) {
    out.push(`next table: ${md(f.levels[t.level + 1]?.name ?? '?')} at PA ${md(hex(e.target!))}  `);
    out.push(`still allowed below: ${md(rightsWords(effectiveRights(e.perms)))}  `);
    if (e.problem) out.push(`**${md(e.problem)}**  `);
  }
  const table = fieldsTable(e.fields());
  if (table) out.push('', table);
  return out.join('\n');
}

export interface EntryActions {
  va: string;
  pa?: string;
  raw: string;
  size: number;
}

/** What the context actions copy or act on. */
export function entryActions(e: EntryNode): EntryActions {
  return { va: hex(e.va), pa: e.target === undefined ? undefined : hex(e.target), raw: rawOf(e), size: e.size };
}

/** The child on the way to `trace` (entry indices from the root): for reveal. */
export function stepToward(kids: readonly PtNode[], index: number): PtNode | undefined {
  for (const k of kids) {
    if (k.kind === 'entry' && k.entry.index === index) return k;
    if (k.kind === 'chunk' && k.entries.some((e) => e.index === index)) return k;
  }
  return undefined;
}
