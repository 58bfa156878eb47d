// Core files by content, not by name: ELF (QEMU dump-guest-memory, Linux /proc/vmcore) or
// compressed kdump (makedumpfile, QEMU dump-guest-memory -z/-l/-s), plain or flattened.
import { CoreFileError, openRegularFile } from './coreFile';
import { QemuCore, parseElfCore } from './elfCore';
import { FLAT_SIGNATURE, KDUMP_SIGNATURE, parseKdumpFile } from './kdump';

export { CoreFileError } from './coreFile';
export type { QemuCore, CoreFormat, CpuState } from './elfCore';

export async function openCore(path: string): Promise<QemuCore> {
  const f = await openRegularFile(path);
  try {
    const head = await f.readUpTo(0, 16);
    if (head.length >= 4 && head.readUInt32BE(0) === 0x7f454c46) return await parseElfCore(f);
    const text = head.toString('latin1');
    if (text.startsWith(KDUMP_SIGNATURE) || text.startsWith(FLAT_SIGNATURE)) return await parseKdumpFile(f);
    throw new CoreFileError(
      `${path} is not a core ptview knows: expected an ELF core (QEMU dump-guest-memory, Linux vmcore) or a compressed kdump ("KDUMP   " or makedumpfile's flattened format)`,
    );
  } catch (e) {
    await f.close();
    throw e;
  }
}
