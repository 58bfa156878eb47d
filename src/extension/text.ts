// Formatting shared by the tree, commands, hover and map: plain strings and Markdown, no vscode.
import { hex, parseAddress, sizeLabel } from '../core/addr';
import { Field } from '../core/format';
import { Provenance, Rights } from '../core/ops/explain';
import { Alias } from '../core/ops/reverse';
import { Translation } from '../core/ops/translate';

/** "rwx r--" from named rights: privileged, then user (same letters as core's rightsString). */
export function rightsLetters(r: Rights): string {
  const b = (v: boolean, c: string) => (v ? c : '-');
  return `${b(r.read, 'r')}${b(r.write, 'w')}${b(r.exec, 'x')} ${b(r.userRead, 'r')}${b(r.userWrite, 'w')}${b(r.userExec, 'x')}`;
}

// `user` (userRead || userWrite) is said by the user read/write words.
const RIGHT_WORDS: Partial<Record<keyof Rights, string>> = {
  read: 'kernel read',
  write: 'kernel write',
  exec: 'kernel execute',
  userRead: 'user read',
  userWrite: 'user write',
  userExec: 'user execute',
};

/** "kernel read, write, kernel execute" or "none". */
export function rightsWords(r: Rights): string {
  const on = (Object.keys(RIGHT_WORDS) as (keyof Rights)[]).filter((k) => r[k]).map((k) => RIGHT_WORDS[k]!);
  return on.length ? on.join(', ') : 'none';
}

/** Inclusive VA range as the tree shows it: "0x1000–0x1fff". */
export function vaRange(va: bigint, size: number): string {
  return `${hex(va)}–${hex(va + BigInt(size) - 1n)}`;
}

/**
 * Markdown-escapes text that came from the target or the adapter (inline use only: our own text
 * starts every line, so line-start markers such as "-" or "1." need no escape).
 */
export function md(text: string): string {
  return text.replace(/[\\`*_{}[\]#|<>&~]/g, (c) => '\\' + c);
}

export function fieldValue(v: Field['value']): string {
  return typeof v === 'boolean' ? (v ? '1' : '0') : String(v);
}

/** A Markdown table of decoded entry fields with their meaning. */
export function fieldsTable(fields: readonly Field[]): string {
  if (fields.length === 0) return '';
  // The meaning of the value shown: a clear flag says what clear means, not what set would.
  const meaning = (f: Field) => (f.value === false ? f.clear ?? (f.description ? `clear (set: ${f.description})` : '') : f.description ?? '');
  const rows = fields.map((f) => `| ${md(f.name)} | ${md(fieldValue(f.value))} | ${md(meaning(f))} |`);
  return ['| bit | value | meaning |', '|---|---|---|', ...rows].join('\n');
}

export function provenanceLines(p: readonly Provenance[]): string[] {
  return p.map((x) => `${RIGHT_WORDS[x.permName as keyof Rights] ?? x.permName} removed at ${x.levelName}[${x.index}]: ${x.because}`);
}

/** Translation trace as plain text, one line per level (output channel, trace document). */
export function translationText(t: Translation): string {
  const lines = [t.message, `root ${t.root}`];
  for (const s of t.trace) {
    lines.push(
      `  ${s.levelName}[${s.index}] @ ${hex(s.entryPa)} = ${s.raw}  ${s.kind.padEnd(8)} allows ${rightsLetters(s.allowedAfter)}`,
    );
    const set = s.fields.filter((f) => f.value !== false && f.value !== 0);
    if (set.length) lines.push(`      ${set.map((f) => (typeof f.value === 'boolean' ? f.name : `${f.name}=${fieldValue(f.value)}`)).join(' ')}`);
  }
  if (t.provenance?.length) {
    lines.push('restrictions:');
    for (const l of provenanceLines(t.provenance)) lines.push(`  ${l}`);
  }
  return lines.join('\n');
}

/** Short summary for notifications and hovers. */
export function translationSummary(t: Translation): string {
  if (t.kind !== 'mapped') return t.message;
  return `${t.va} → ${hex(t.pa!)} · ${sizeLabel(t.size!)} page · ${rightsLetters(t.rights!)} · ${t.memType ?? ''}`.trim();
}

/** Markdown for the hover: summary, rights in words, restrictions, the per-level trace. */
export function translationMarkdown(t: Translation): string {
  const out: string[] = [];
  if (t.kind === 'mapped') {
    out.push(`**${md(t.va)} → ${md(hex(t.pa!))}**  `);
    out.push(`${md(sizeLabel(t.size!))} page (${md(t.level ?? '')}) · ${md(rightsLetters(t.rights!))} · ${md(t.memType ?? '')}  `);
    out.push(`rights: ${md(rightsWords(t.rights!))}  `);
    for (const l of provenanceLines(t.provenance ?? [])) out.push(`${md(l)}  `);
  } else {
    out.push(`**${md(t.message)}**  `);
  }
  out.push('');
  out.push(t.trace.map((s) => `${md(s.levelName)}\\[${s.index}\\] ${md(s.raw)} ${md(s.kind)}`).join(' → '));
  return out.join('\n');
}

/** The VA of the exact byte asked for (the page's VA is in the detail). */
export function aliasLabel(a: Alias): string {
  return `${a.vaOfPa} (${sizeLabel(a.size)} ${a.level}, ${a.root})`;
}

export function aliasDetail(a: Alias): string {
  return `${a.write ? 'writable' : 'read-only'}${a.exec || a.userExec ? ', executable' : ''}${a.user ? ', user' : ''} · page ${a.va} → ${a.pa} · ${a.memType}`;
}

export interface AddressToken {
  readonly text: string;
  readonly value: bigint;
  readonly start: number;
  readonly end: number;
}

// 0x-hex with optional ' or _ separators, or bare hex of 8+ digits with a letter (GDB, dmesg).
const TOKEN = /\b0x[0-9a-f]+(?:['_][0-9a-f]+)*\b|\b[0-9a-f]{8,16}\b/gi;

/** The address literal under `character` in `line`, if any (hover, translate-at-cursor). */
export function addressTokenAt(line: string, character: number): AddressToken | undefined {
  TOKEN.lastIndex = 0;
  for (let m = TOKEN.exec(line); m; m = TOKEN.exec(line)) {
    const start = m.index;
    const end = start + m[0].length;
    if (character < start || character > end) continue;
    if (!m[0].toLowerCase().startsWith('0x') && !/[a-f]/i.test(m[0])) return undefined;
    try {
      return { text: m[0], value: parseAddress(m[0]), start, end };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A literal the user typed: hex or decimal, or undefined (then it is a debugger expression). */
export function literalAddress(text: string): bigint | undefined {
  const t = text.trim();
  if (!/^(0x[0-9a-f_']+|[0-9_']+)$/i.test(t)) return undefined;
  try {
    return parseAddress(t);
  } catch {
    return undefined;
  }
}
