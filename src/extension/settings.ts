// Settings → options for the debug layer and the views.
import * as vscode from 'vscode';
import type { Dialect, LiveOptions, StrategyName } from '../debug/api';
import { literalAddress } from './text';
import { CONFIG } from './ids';

export const STRATEGIES: readonly { id: StrategyName | 'auto'; label: string; detail: string }[] = [
  { id: 'auto', label: 'Automatic', detail: 'the fastest strategy that works on this session' },
  { id: 'proc-mem', label: 'Local QEMU process memory', detail: 'reads /proc/<pid>/mem of a QEMU on this machine (fastest)' },
  { id: 'phymem-mode', label: 'QEMU physical-memory mode', detail: 'GDB maintenance packet Qqemu.PhyMemMode:1, switched back after each read' },
  { id: 'monitor-xp', label: 'QEMU monitor xp', detail: 'monitor xp commands through GDB (slow, works everywhere QEMU does)' },
  { id: 'direct-map', label: 'Direct-map offset', detail: 'virtual reads at ptview.directMapOffset + PA (e.g. Linux physmap)' },
];

export function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(CONFIG);
}

export function liveOptions(): LiveOptions {
  const c = config();
  const strategy = c.get<string>('memoryStrategy', 'auto');
  const dialect = c.get<string>('adapterDialect', 'auto');
  const offset = literalAddress(c.get<string>('directMapOffset', '') ?? '');
  const opts: { -readonly [K in keyof LiveOptions]: LiveOptions[K] } = {};
  if (strategy !== 'auto') opts.strategy = strategy as StrategyName;
  if (dialect !== 'auto') opts.dialect = dialect as Dialect;
  if (offset !== undefined) opts.directMapOffset = offset;
  const item = vscode.debug.activeStackItem;
  if (item instanceof vscode.DebugStackFrame) {
    opts.threadId = item.threadId;
    opts.frameId = item.frameId;
  } else if (item instanceof vscode.DebugThread) {
    opts.threadId = item.threadId;
  }
  return opts;
}

export interface ViewSettings {
  showInvalid: boolean;
  chunkSize: number;
  mapMaxRows: number;
  defaultFilters: string;
  hover: boolean;
}

export function viewSettings(): ViewSettings {
  const c = config();
  return {
    showInvalid: c.get<boolean>('tree.showInvalidEntries', false),
    chunkSize: c.get<number>('tree.chunkSize', 100),
    mapMaxRows: c.get<number>('map.maxRows', 1_000_000),
    defaultFilters: c.get<string>('map.defaultFilters', ''),
    hover: c.get<boolean>('hover.enabled', true),
  };
}
