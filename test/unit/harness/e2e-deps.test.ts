// The e2e installer (scripts/e2e.js) must install every Debian package the e2e npm tree needs to
// build its native modules on a machine that has none of them (issue: code-server's `kerberos`
// failed on a fresh Debian 12 for want of libkrb5-dev's gssapi/gssapi.h). A new native module in
// test/e2e/package-lock.json, or a code-server bump, fails here until its packages are listed.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../../harness/qemu';

interface Lock {
  packages: Record<string, { version?: string; hasInstallScript?: boolean; gypfile?: boolean }>;
}
// eslint-disable-next-line @typescript-eslint/no-require-imports
const e2e = require(path.join(REPO, 'scripts', 'e2e.js')) as {
  NATIVE_MODULES: Record<string, string[]>;
  CODE_SERVER_NATIVE: Record<string, string[]>;
  debianPackages(): string[];
  installScriptPackages(lock: Lock): string[];
  uncovered(names: string[]): string[];
};
const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'test', 'e2e', 'package-lock.json'), 'utf8')) as Lock;

describe('e2e installer: Debian packages for the native modules', () => {
  it('lists every package of test/e2e/package-lock.json that has an install script', () => {
    const native = e2e.installScriptPackages(lock);
    assert.ok(native.includes('code-server') && native.includes('argon2'), `found ${native.join(', ')}`);
    assert.deepEqual(e2e.uncovered(native), []);
  });

  it("knows the native modules code-server's postinstall builds for the locked version", () => {
    const version = lock.packages['node_modules/code-server']?.version;
    assert.ok(version, 'code-server is in the lockfile');
    const nested = e2e.CODE_SERVER_NATIVE[version];
    assert.ok(nested, `CODE_SERVER_NATIVE has no row for code-server ${version}`);
    assert.deepEqual(e2e.uncovered(nested), []);
  });

  it('installs the packages each native module needs (kerberos: libkrb5-dev; node-gyp: toolchain)', () => {
    const pkgs = e2e.debianPackages();
    for (const [mod, need] of Object.entries(e2e.NATIVE_MODULES)) {
      for (const p of need) assert.ok(pkgs.includes(p), `${mod} needs ${p}`);
    }
    for (const p of ['libkrb5-dev', 'build-essential', 'python3', 'chromium', 'ripgrep', 'gdb']) assert.ok(pkgs.includes(p), p);
  });

  it('flags a native module it has no row for', () => {
    const fake: Lock = {
      packages: {
        '': {},
        'node_modules/kerberos': { hasInstallScript: true },
        'node_modules/a/node_modules/@scope/new-native': { gypfile: true },
        'node_modules/plain': {},
      },
    };
    const names = e2e.installScriptPackages(fake);
    assert.deepEqual(names, ['kerberos', '@scope/new-native']);
    assert.deepEqual(e2e.uncovered(names), ['@scope/new-native']);
  });
});
