// The map webview's own page (same HTML shell, same bundle, same CSP) in plain Chromium with a
// million synthetic ranges: the table stays virtualized (a bounded number of row elements), shows
// the right rows after jumping anywhere, and filters the million rows. Timings are printed (a
// benchmark figure, not a pass/fail criterion).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { expect, test } from '@playwright/test';

const REPO = path.resolve(__dirname, '../../..');
// eslint-disable-next-line @typescript-eslint/no-var-requires
const { mapHtml } = require(path.join(REPO, 'build/src/extension/mapHtml.js'));
const N = 1_000_000;

test('the map table stays virtualized and correct with 1 M ranges', async ({ page }) => {
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/') {
      res.setHeader('content-type', 'text/html');
      return res.end(mapHtml({ cspSource: `http://127.0.0.1:${(server.address() as { port: number }).port}`, nonce: 'n0nce', script: '/dist/map.js', style: '/media/map.css' }));
    }
    const file = path.join(REPO, url.split('?')[0]);
    if (!file.startsWith(REPO) || !fs.existsSync(file)) return res.writeHead(404).end();
    res.setHeader('content-type', file.endsWith('.js') ? 'text/javascript' : 'text/css');
    res.end(fs.readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (/Content Security Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  try {
    await page.addInitScript(() => {
      const w = window as any;
      w.__posted = [];
      w.acquireVsCodeApi = () => ({ postMessage: (m: unknown) => w.__posted.push(m), getState: () => undefined, setState: () => undefined });
    });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => (window as any).__posted.some((m: any) => m.type === 'ready'));
    // 1 M 4 KiB ranges; every 7th writable+executable, every 3rd user; VA i*0x2000 (gaps between).
    const t = await page.evaluate((n) => {
      const pad = (v: bigint) => v.toString(16).padStart(17, '0');
      const va: string[] = new Array(n);
      const end: string[] = new Array(n);
      const perms = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const a = BigInt(i) * 0x2000n + 0xffff888000000000n;
        va[i] = pad(a);
        end[i] = pad(a + 0x1000n);
        perms[i] = 1 | (i % 7 === 0 ? 2 | 4 : 0) | (i % 3 === 0 ? 8 : 0);
      }
      const data = {
        count: n, va, end, pa: Float64Array.from({ length: n }, (_, i) => i * 4096), size: new Float64Array(n).fill(4096),
        pageSize: new Float64Array(n).fill(4096), pages: new Float64Array(n).fill(1), repeat: new Float64Array(n).fill(1), stride: new Float64Array(n), perms, flags: new Uint8Array(n),
        memType: new Uint16Array(n), root: new Uint8Array(n), level: new Uint8Array(n), region: new Int32Array(n).fill(-1),
        severity: new Uint8Array(n), finding: new Int32Array(n).fill(-1), memTypes: ['WB'], roots: ['cr3'], levels: ['PT'], regions: [], findings: [],
      };
      const t0 = performance.now();
      window.postMessage({ type: 'data', data, title: 'scale' }, '*');
      return new Promise<number>((r) => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now() - t0))));
    }, N);
    await expect(page.locator('#summary')).toHaveText(/^1000000 of 1000000 ranges/);
    const rowEls = () => page.locator('#spacer .row:not([hidden])').count();
    expect(await rowEls()).toBeLessThan(120);
    // Jump to the end and to the middle: the rows shown are the rows there.
    const frames = await page.evaluate(async () => {
      const s = document.getElementById('scroller')!;
      const times: number[] = [];
      let last = performance.now();
      for (let k = 0; k < 60; k++) {
        s.scrollTop = (s.scrollHeight * k) / 60;
        await new Promise((r) => requestAnimationFrame(r));
        const now = performance.now();
        times.push(now - last);
        last = now;
      }
      s.scrollTop = s.scrollHeight;
      await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
      return times.sort((a, b) => a - b);
    });
    const lastVa = '0x' + (0xffff888000000000n + BigInt(N - 1) * 0x2000n).toString(16);
    await expect(page.locator('#spacer .row:not([hidden]) span:first-child', { hasText: lastVa })).toHaveCount(1);
    expect(await rowEls()).toBeLessThan(120);
    const f0 = Date.now();
    await page.locator('#f-wx').click();
    const wx = Math.ceil(N / 7);
    await expect(page.locator('#summary')).toHaveText(new RegExp(`^${wx} of 1000000 ranges`));
    const filterMs = Date.now() - f0;
    for (const r of await page.locator('#spacer .row:not([hidden]) span:nth-child(6)').allTextContents()) expect(r).toMatch(/^rwx/);
    expect(cspViolations).toEqual([]);
    const p = (q: number) => frames[Math.min(frames.length - 1, Math.floor(q * frames.length))].toFixed(1);
    console.log(`map scale: ${N} rows, first render ${t.toFixed(0)} ms, scroll-jump frames median ${p(0.5)} ms p95 ${p(0.95)} ms, W+X filter + render ${filterMs} ms (incl. Playwright round trip)`);
    await page.screenshot({ path: path.join(REPO, 'test-artifacts', 'map-1m.png') });
  } finally {
    server.close();
  }
});
