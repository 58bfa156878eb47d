// The command line of a run that names its subcommand is parsed by a parser holding just that
// subcommand (src/cli/main.ts, program(only)): its help, its errors and what it parses must be
// those of the whole parser.
import assert from 'node:assert/strict';
import type { Command } from 'commander';
import { program } from '../../../src/cli/main';

/** Parses `args` (after `ptview`) without running anything: the options, or the error and its text. */
function parse(p: Command, args: string[]): { opts?: unknown; code?: string; message?: string; output: string } {
  let output = '';
  for (const c of [p, ...p.commands]) {
    c.configureOutput({ writeOut: (s) => (output += s), writeErr: (s) => (output += s) });
    c.action(() => undefined); // the real actions open targets
  }
  try {
    p.parse(args, { from: 'user' });
    const sub = p.commands.find((c) => c.name() === args[0]);
    return { opts: { ...sub?.opts(), args: sub?.args }, output };
  } catch (e) {
    const err = e as { code?: string; message?: string };
    return { code: err.code, message: err.message, output };
  }
}

describe('ptview command line: one subcommand built, as with all of them', () => {
  const lines: string[][] = [
    ['dump', '--gdb', '127.0.0.1:1234', '--leaves', '--json', '--stats'],
    ['dump', '--core', 'x.core', '--filter', 'w', '--filter', 'x', '--reg', 'EFER=0xd01', '--half', 'kernel'],
    ['dump', '--bogus'],
    ['dump', '--half', 'middle'],
    ['dump', '--help'],
    ['translate', '0xffffffff81000000', '--snapshot', 's.json'],
    ['translate'],
    ['find', '0x1000', '0x2000'],
    ['audit', '--json', '--via', 'lldb'],
    ['simulate', '--edit', 'unmap 0x1000 4K', '--raw', 'r.img', '--base', '0', '--arch', 'x86_64'],
    ['diff', '--core', 'a', '--core', 'b', '--new-reg', 'CR3=0x1000', '--help'],
    ['diff', '--gdb'],
  ];
  for (const args of lines) {
    it(args.join(' '), () => {
      const all = parse(program(), args);
      const one = parse(program(args[0]), args);
      assert.deepEqual(one, all);
    });
  }

  it('the lines above do reach both outcomes (parsed, refused)', () => {
    const outcomes = lines.map((a) => parse(program(), a));
    assert.ok(outcomes.some((o) => o.opts !== undefined) && outcomes.some((o) => o.code === 'commander.unknownOption'));
    assert.ok(outcomes.some((o) => o.code === 'commander.helpDisplayed' && /--leaves/.test(o.output)));
  });
});
