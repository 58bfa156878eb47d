// Runs host/out/index.js inside the remote extension host (extensionTestsPath payload) on its
// own page, and passes when its mocha run passes.
import path from 'node:path';
import { expect, test } from '../fixture';

test('in-extension-host tests against a real cdt-gdb-adapter + GDB + QEMU session', async ({ world }) => {
  test.setTimeout(180_000);
  const logs: string[] = [];
  let exit!: (code: number) => void;
  const exited = new Promise<number>((r) => (exit = r));
  const remote = (p: string) => `vscode-remote://127.0.0.1:${new URL(world.url).port}${p}`;
  const page = await world.openPayloadPage(
    [
      ['extensionDevelopmentPath', remote(path.resolve(__dirname, '../helper-ext'))],
      ['extensionTestsPath', remote(path.resolve(__dirname, '../host/out/index.js'))],
    ],
    {
      codeAutomationLog: (_type: string, args: unknown[]) => logs.push(args.map(String).join(' ')),
      codeAutomationExit: (code: number) => exit(code),
    },
  );
  const code = await Promise.race([exited, new Promise<number>((r) => setTimeout(() => r(-1), 170_000))]);
  console.log(logs.join('\n'));
  await page.close();
  expect(code, logs.join('\n')).toBe(0);
});
