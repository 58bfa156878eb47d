// Loaded by the workbench in the remote (Node) extension host as extensionTestsPath: runs mocha
// there, with the real vscode API, and reports through the promise (the workbench turns it into
// window.codeAutomationExit).
import path from 'node:path';

export async function run(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Mocha } = require('mocha');
  const mocha = new Mocha({ ui: 'bdd', timeout: 90_000, color: false, reporter: 'spec' });
  mocha.addFile(path.join(__dirname, 'session.test.js'));
  await new Promise<void>((resolve, reject) => mocha.run((failures: number) => (failures ? reject(new Error(`${failures} in-extension-host test(s) failed`)) : resolve())));
}
