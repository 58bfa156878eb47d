// The `ptview` command as one file (out/cli.bundle.js), from tsc's output (out/cli/main.js):
// node then reads one file instead of resolving and reading ~50 modules at every start, and
// out/cli.js runs it with a V8 code cache. Packages loaded only on rarely used paths (GDB's
// adapter for --via gdb, snappy for compressed kdumps) stay outside and are required from
// node_modules when used.
const path = require('node:path');

// Node modules that some module requires at its start but uses only on a rare path: commander
// (child_process, for executable subcommands ptview has none of), compressed kdumps (zlib), core
// and snapshot files (fs/promises). Loading them costs ~2 ms of every command, so each is a proxy
// that requires it on first use. `__esModule` is answered without loading (TypeScript's
// __importDefault asks for it at the start).
const LAZY = new Set(['node:child_process', 'node:zlib', 'node:fs/promises']);
const lazy = (request) =>
  `(() => { let m; const l = () => (m ??= require(${JSON.stringify(request)})); return new Proxy({}, {` +
  ` get: (_, k) => (k === '__esModule' ? undefined : l()[k]), has: (_, k) => k in l(), ownKeys: () => Reflect.ownKeys(l()),` +
  ` getOwnPropertyDescriptor: (_, k) => { const d = Reflect.getOwnPropertyDescriptor(l(), k); return d && { ...d, configurable: true }; } }); })()`;

/** @type {import('webpack').Configuration} */
module.exports = {
  name: 'cli',
  target: 'node20',
  mode: 'production',
  entry: './out/cli/main.js',
  // Written at every build even when unchanged (webpack skips identical files by default): the
  // bundle must stay newer than tsc's modules, which tsc rewrites every time, or out/cli.js takes
  // it for stale and loads the ~50 modules instead.
  output: { path: path.resolve(__dirname, 'out'), filename: 'cli.bundle.js', library: { type: 'commonjs2' }, compareBeforeEmit: false },
  externals: [
    ({ request }, callback) => {
      if (/^(cdt-gdb-adapter|snappyjs|@vscode\/)/.test(request ?? '')) return callback(undefined, `commonjs ${request}`);
      if (LAZY.has(request)) return callback(undefined, `var ${lazy(request)}`);
      return callback();
    },
  ],
  // gdbAttach takes node's own require inside the bundle (__non_webpack_require__) and the plain
  // one outside it; webpack flags the latter, which it never runs.
  ignoreWarnings: [{ module: /gdbAttach\.js$/, message: /Critical dependency: require function/ }],
  // Readable stack traces and no minifier time: size does not matter for a local file.
  optimization: { minimize: false },
  devtool: false,
  performance: { hints: false },
};
