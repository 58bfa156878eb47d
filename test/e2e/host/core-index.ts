// extensionTestsPath of the core-file spec (specs/5-core.spec.ts): runs core.test.js with mocha
// in the remote extension host, like index.ts does for session.test.js.
import { runMochaFile } from './support';

export function run(): Promise<void> {
  return runMochaFile('core.test.js');
}
