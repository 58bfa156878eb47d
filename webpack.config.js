// Two bundles: the extension host (node, commonjs, `vscode` external) and the map webview (web).
// Type errors are caught by `tsc -p tsconfig.extension.json` (ts-loader only transpiles).
const path = require('node:path');

const tsRule = { test: /\.ts$/, exclude: /node_modules/, use: { loader: 'ts-loader', options: { transpileOnly: true, configFile: 'tsconfig.extension.json' } } };

/** @type {import('webpack').Configuration[]} */
module.exports = (_env, argv) => [
  {
    name: 'extension',
    target: 'node',
    mode: argv.mode ?? 'production',
    entry: './src/extension/extension.ts',
    output: { path: path.resolve(__dirname, 'dist'), filename: 'extension.js', libraryTarget: 'commonjs2' },
    externals: { vscode: 'commonjs vscode' },
    resolve: { extensions: ['.ts', '.js'] },
    module: { rules: [tsRule] },
    devtool: 'source-map',
    optimization: { minimize: false },
  },
  {
    name: 'webview',
    target: 'web',
    mode: argv.mode ?? 'production',
    entry: './media/map.ts',
    output: { path: path.resolve(__dirname, 'dist'), filename: 'map.js' },
    resolve: { extensions: ['.ts', '.js'] },
    module: { rules: [tsRule] },
    devtool: 'source-map',
    performance: { hints: false },
  },
];
