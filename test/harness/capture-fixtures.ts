// Captures QEMU monitor output from our guests as parser fixtures (test/harness/fixtures/<guest>/).
//   npx tsc -p tsconfig.test.json && node build/test/harness/capture-fixtures.js [guest ...]
// Default: every guest with an expect.json. Files hold the HMP text exactly as QEMU returned it;
// gva2gpa.txt has one "### gva2gpa <va>" section per probe (expect.json facts, aliases, a bad one).
import fs from 'node:fs';
import path from 'node:path';
import { GUESTS, REPO, bootGuest, guestNames, guestSpec } from './qemu';

export const FIXTURES = path.join(REPO, 'test', 'harness', 'fixtures');

async function capture(name: string): Promise<void> {
  const spec = guestSpec(name);
  const expectFile = path.join(GUESTS, name, 'expect.json');
  const expect = fs.existsSync(expectFile) ? (JSON.parse(fs.readFileSync(expectFile, 'utf8')) as {
    facts?: { va: string }[];
    aliases?: { vas: string[] }[];
  }) : {};
  const out = path.join(FIXTURES, name);
  fs.mkdirSync(out, { recursive: true });
  const run = await bootGuest(name);
  try {
    const cmds: [string, string][] = [['info registers', 'info-registers.txt']];
    if (spec.arch === 'x86' || spec.arch === 'x86_64') cmds.push(['info tlb', 'info-tlb.txt']);
    if (spec.arch !== 'aarch64') cmds.push(['info mem', 'info-mem.txt']);
    for (const [cmd, file] of cmds) fs.writeFileSync(path.join(out, file), await run.hmp(cmd));
    const vas = [...(expect.facts ?? []).map((f) => f.va), ...(expect.aliases ?? []).flatMap((a) => a.vas), 'zzz'];
    let text = '';
    for (const va of [...new Set(vas)]) text += `### gva2gpa ${va}\n${await run.hmp(`gva2gpa ${va}`)}`;
    fs.writeFileSync(path.join(out, 'gva2gpa.txt'), text);
    fs.writeFileSync(path.join(out, 'serial.txt'), run.serial());
    console.log(`${name}: ${fs.readdirSync(out).join(', ')}`);
  } finally {
    await run.kill();
  }
}

/** Splits a gva2gpa.txt fixture into [va, output] pairs. */
export function gva2gpaSections(text: string): [string, string][] {
  return text
    .split(/^### gva2gpa /m)
    .filter(Boolean)
    .map((s) => {
      const nl = s.indexOf('\n');
      return [s.slice(0, nl), s.slice(nl + 1)];
    });
}

if (require.main === module) {
  const names = process.argv.slice(2);
  const list = names.length ? names : guestNames().filter((n) => fs.existsSync(path.join(GUESTS, n, 'expect.json')));
  (async () => {
    for (const n of list) await capture(n);
  })().catch((e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
