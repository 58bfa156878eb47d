// The gdbtarget debug type, as cdt-gdb-vscode registers it: cdt-gdb-adapter's target adapter
// (dist/debugTargetAdapter.js) over stdio, run with the Node that runs this extension host.
const path = require('node:path');
const vscode = require('vscode');

exports.activate = (ctx) => {
  const adapter = process.env.PTVIEW_E2E_CDT_ADAPTER;
  ctx.subscriptions.push(
    vscode.debug.registerDebugAdapterDescriptorFactory('gdbtarget', {
      createDebugAdapterDescriptor() {
        if (!adapter) throw new Error('PTVIEW_E2E_CDT_ADAPTER is not set (path to cdt-gdb-adapter/dist/debugTargetAdapter.js)');
        return new vscode.DebugAdapterExecutable(process.execPath, [path.resolve(adapter)]);
      },
    }),
  );
};
exports.deactivate = () => {};
