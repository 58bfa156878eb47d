// Runs host/out/index.js inside the remote extension host (extensionTestsPath payload) on its
// own page, and passes when its mocha run passes.
import { runHostTests, test } from '../fixture';

test('in-extension-host tests against a real cdt-gdb-adapter + GDB + QEMU session', async ({ world }) => {
  test.setTimeout(180_000);
  await runHostTests(world, 'index.js');
});
