// HOST:PORT of a gdbstub, and the error for a debugger that cannot attach to it. Kept apart
// from gdbAttach.ts so the CLI's own gdbstub path loads neither GDB's adapter nor its client.

/** GDB (or ptview's gdbstub client) could not attach (the message says which and why). */
export class GdbAttachError extends Error {
  override name = 'GdbAttachError';
}

/** Parses HOST:PORT (IPv6 as [addr]:port). */
export function parseHostPort(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || !(port > 0 && port < 65536)) throw new GdbAttachError(`invalid --gdb '${text}': expected HOST:PORT, e.g. 127.0.0.1:1234`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}
