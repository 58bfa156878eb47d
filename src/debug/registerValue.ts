// Register values as debug adapters print them.
const U64 = (1n << 64n) - 1n;

/** Parses an evaluate result: decimal or 0x-hex, possibly negative (masked to u64). */
export function parseRegisterValue(result: unknown): bigint | undefined {
  if (typeof result !== 'string') return undefined;
  const s = result.trim();
  const m = /^(-?)(0x[0-9a-f]+|\d+)\b/i.exec(s);
  if (!m) return undefined;
  const v = BigInt(m[2]);
  return (m[1] ? -v : v) & U64;
}
