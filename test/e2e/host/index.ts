// Loaded by the workbench in the remote (Node) extension host as extensionTestsPath: runs mocha
// there, with the real vscode API, and reports through the promise (the workbench turns it into
// window.codeAutomationExit).
import { runMochaFile } from './support';

export function run(): Promise<void> {
  return runMochaFile('session.test.js');
}
