// A CPU profile of the extension host per stop, for finding where a stop's time goes in real VS
// Code (the same work costs more there than in a plain node process). Off unless the environment
// names a directory in PTVIEW_STOP_PROFILE_DIR (the e2e runs that measure stops set it): then
// node's inspector profiles from the adapter's `stopped` event until the map says it drew the
// stop, and writes <dir>/stop-<n>.cpuprofile (Chrome DevTools' format). Nothing else reads it.
import fs from 'node:fs';
import inspector from 'node:inspector';
import path from 'node:path';

export class StopProfiler {
  private session: inspector.Session | undefined;
  private running = false;
  private n = 0;

  constructor(private readonly dir: string | undefined = process.env.PTVIEW_STOP_PROFILE_DIR) {}

  /** A stop arrived: profile from now on (a profile still running is dropped). */
  start(): void {
    if (!this.dir) return;
    if (!this.session) {
      this.session = new inspector.Session();
      this.session.connect();
      this.session.post('Profiler.enable');
      this.session.post('Profiler.setSamplingInterval', { interval: 200 });
    }
    if (this.running) this.session.post('Profiler.stop');
    this.session.post('Profiler.start');
    this.running = true;
  }

  /** The stop is on screen: write its profile. */
  stop(): void {
    if (!this.session || !this.running) return;
    this.running = false;
    const file = path.join(this.dir!, `stop-${++this.n}.cpuprofile`);
    this.session.post('Profiler.stop', (err, res) => {
      if (!err) fs.writeFile(file, JSON.stringify(res.profile), () => undefined);
    });
  }

  dispose(): void {
    this.session?.disconnect();
    this.session = undefined;
  }
}
