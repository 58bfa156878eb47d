// A debugger expression (a pointer variable, `&x`, `p + 0x10`) to the virtual address it denotes,
// evaluated the way the Watch view does it: in the given frame, or the first stopped thread's
// top frame (GDB adapters refuse expressions without one).
import { parseAddress } from '../core/addr';
import { DapChannel, LiveAccessError } from './api';
import { resolveFrame } from './registers';
import { Transport } from './transport';

/**
 * The address in a debugger's answer to `evaluate` or in a variable's value: GDB prints pointers
 * as "(char *) 0xffff... <sym>" or "0x1234 \"text\"", integers in decimal or hex; else the
 * memoryReference.
 */
export function addressFromValue(value: string | undefined, memoryReference?: string): bigint | undefined {
  const v = (value ?? '').trim();
  const hexm = /0x[0-9a-f]+/i.exec(v);
  if (hexm) return parseAddress(hexm[0]);
  const dec = /^-?\d+$/.exec(v);
  if (dec) return BigInt.asUintN(64, BigInt(dec[0]));
  if (memoryReference && /^0x[0-9a-f]+$/i.test(memoryReference)) return parseAddress(memoryReference);
  return undefined;
}

export async function evaluateAddress(
  channel: DapChannel,
  expression: string,
  where: { threadId?: number; frameId?: number } = {},
  signal?: AbortSignal,
): Promise<bigint> {
  const t = new Transport(channel, {});
  try {
    const frame = where.frameId !== undefined ? where : await resolveFrame(t, where, signal);
    let body: any;
    try {
      body = await t.request('evaluate', { expression, frameId: frame.frameId, context: 'watch' }, signal);
    } catch (e) {
      if (e instanceof LiveAccessError) throw e;
      throw new Error(`'${expression}' does not evaluate: ${(e as Error).message}`);
    }
    const va = addressFromValue(body?.result, body?.memoryReference);
    if (va === undefined) throw new Error(`'${expression}' evaluates to '${body?.result}', which is not an address`);
    return va;
  } finally {
    t.dispose();
  }
}
