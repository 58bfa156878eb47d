// extensionTestsPath of the core-file spec (specs/5-core.spec.ts): runs core.test.js with mocha
// in the remote extension host, like index.ts does for session.test.js.
import path from 'node:path';

export async function run(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Mocha } = require('mocha');
  const mocha = new Mocha({ ui: 'bdd', timeout: 90_000, color: false, reporter: 'spec' });
  mocha.addFile(path.join(__dirname, 'core.test.js'));
  await new Promise<void>((resolve, reject) => mocha.run((failures: number) => (failures ? reject(new Error(`${failures} in-extension-host test(s) failed`)) : resolve())));
}
