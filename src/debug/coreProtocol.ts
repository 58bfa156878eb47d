// What the ptview-core adapter (coreAdapter.ts) and its reader (coreTarget.ts) agree on; kept
// apart so the CLI, which reads cores directly, never loads the adapter.
import type { DebugProtocol } from '@vscode/debugprotocol';

export const CORE_DEBUG_TYPE = 'ptview-core';
/** Custom request: what the core holds for one CPU (see CoreInfo). */
export const CORE_INFO_REQUEST = 'ptviewCoreInfo';
/** Custom request: many guest-physical reads at once (see PhysicalReads). */
export const CORE_READ_REQUEST = 'ptviewReadPhysical';

export interface CoreLaunchArguments extends DebugProtocol.LaunchRequestArguments {
  /** Path of the core file. */
  core: string;
  /** Registers the core does not carry, e.g. { "EFER": "0xd01" } (every CPU). */
  registers?: Record<string, string>;
}

export interface CoreInfo {
  arch: string;
  format: string;
  cpu: number;
  ram: { start: number; end: number; name?: string }[];
  /** Register values as 0x-prefixed hex, lower-case names. */
  registers: Record<string, string>;
  /** Which file and CPU (LiveTarget.connection). */
  source: string;
  notes: string[];
}

export interface PhysicalReads {
  results: ({ data: string } | { error: string; reason: string })[];
}

/** Frame ids are FRAME_BASE + CPU index (one frame per CPU). */
export const FRAME_BASE = 1000;
