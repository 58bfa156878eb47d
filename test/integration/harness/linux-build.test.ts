// test/harness/linux.ts's fetching: the kernel is the one the current linux-image-<arch>
// metapackage depends on (apt-cache of the private apt state, not ours), foreign packages never
// reach the host's dpkg, and a second build reuses the cache.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { LINUX_CACHE, LinuxArch, build, buildLinux } from '../../harness/linux';

const DEB: Record<LinuxArch, string> = { x86_64: 'amd64', arm64: 'arm64', riscv64: 'riscv64' };

function privateApt(deb: string, args: string[]): string {
  const dir = path.join(LINUX_CACHE, 'apt', deb);
  const o = [`Dir::State=${dir}/state`, `Dir::State::status=${dir}/status`, `Dir::Cache=${dir}/cache`, `APT::Architecture=${deb}`, `APT::Architectures=${deb}`];
  if (fs.existsSync(path.join(dir, 'sources.list'))) o.push(`Dir::Etc::SourceList=${dir}/sources.list`, `Dir::Etc::SourceParts=${dir}/sources.list.d`);
  return execFileSync('apt-cache', [...o.flatMap((x) => ['-o', x]), ...args], { encoding: 'utf8' });
}

describe('Linux guests: fetched from Debian, cached, nothing installed', function () {
  this.timeout(900000);
  const foreignBefore = execFileSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' });

  for (const arch of ['x86_64', 'arm64', 'riscv64'] as LinuxArch[]) {
    it(`${arch}: the kernel of linux-image-${DEB[arch]}'s current dependency, reused on the next build`, async () => {
      const img = await buildLinux(arch);
      const dep = /Depends: (linux-image-\S+)/.exec(privateApt(DEB[arch], ['depends', `linux-image-${DEB[arch]}`]))![1];
      assert.ok(img.package === dep || img.package === `${dep}-unsigned`, `${img.package} for ${dep}`);
      assert.equal(img.version, /Candidate: (\S+)/.exec(privateApt(DEB[arch], ['policy', img.package]))![1]);
      for (const f of [img.kernel, img.initramfs, img.systemMap!]) assert.ok(fs.statSync(f).size > 0, f);
      const debs = path.join(LINUX_CACHE, DEB[arch], 'debs');
      const mtimes = fs.readdirSync(debs).map((f) => fs.statSync(path.join(debs, f)).mtimeMs);
      // A build that does not share this process's promise finds everything in the cache.
      const again = await build(arch);
      assert.deepEqual(again, img);
      assert.deepEqual(fs.readdirSync(debs).map((f) => fs.statSync(path.join(debs, f)).mtimeMs), mtimes);
      // The host's dpkg neither learnt the architecture nor installed the kernel.
      const status = execFileSync('dpkg-query', ['-W', '-f=${Package}:${Architecture} ${Status}\\n'], { encoding: 'utf8' });
      assert.ok(!status.includes(`${img.package}:${DEB[arch]} install ok installed`));
    });
  }

  it("leaves the host's foreign architectures as they were", () => {
    assert.equal(execFileSync('dpkg', ['--print-foreign-architectures'], { encoding: 'utf8' }), foreignBefore);
  });
});
