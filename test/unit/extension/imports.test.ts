// The extension's modules import each other without cycles (issue: commands.ts ↔ simulate.ts):
// a cycle makes load order decide which exports are still undefined at import time. Type-only
// imports are erased by tsc and do not count.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

const DIR = path.resolve(__dirname, '../../../../src/extension');

function runtimeImports(file: string): string[] {
  const text = fs.readFileSync(path.join(DIR, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(type\s+)?[^;]*?from\s+'(\.\/[^']+)'/gm)) {
    if (m[1]) continue;
    // import { type A, type B } is erased too when every name is a type.
    const names = /\{([^}]*)\}/.exec(m[0])?.[1];
    if (names && names.split(',').every((n) => !n.trim() || /^type\s/.test(n.trim()))) continue;
    out.push(m[2].slice(2) + '.ts');
  }
  return out;
}

describe('src/extension imports', () => {
  it('have no cycle', () => {
    const files = fs.readdirSync(DIR).filter((f) => f.endsWith('.ts'));
    assert.ok(files.includes('commands.ts') && files.includes('simulate.ts') && files.includes('run.ts'));
    const graph = new Map(files.map((f) => [f, runtimeImports(f).filter((x) => files.includes(x))]));
    assert.ok(graph.get('simulate.ts')!.includes('run.ts'), 'the parser sees simulate.ts → run.ts');
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (f: string, trail: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...trail.slice(trail.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const g of graph.get(f)!) visit(g, [...trail, f]);
      state.set(f, 'done');
    };
    for (const f of files) visit(f, []);
    assert.deepEqual(cycles, []);
  });
});
