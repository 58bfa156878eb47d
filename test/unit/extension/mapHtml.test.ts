import assert from 'node:assert/strict';
import { mapHtml } from '../../../src/extension/mapHtml';

describe('extension map webview HTML', () => {
  const html = mapHtml({ cspSource: 'https://x.vscode-cdn.net', nonce: 'abc123', script: 'https://x/dist/map.js', style: 'https://x/media/map.css', defaultFilters: 'w+x "><script>' });

  it('has a strict nonce CSP: no inline script, no unsafe-inline, nothing from elsewhere', () => {
    const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)![1];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'nonce-abc123'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    const scripts = [...html.matchAll(/<script([^>]*)>([\s\S]*?)<\/script>/g)];
    assert.equal(scripts.length, 1);
    assert.match(scripts[0][1], /nonce="abc123"/);
    assert.match(scripts[0][1], /src="https:\/\/x\/dist\/map.js"/);
    assert.equal(scripts[0][2].trim(), '', 'no inline script body');
    assert.doesNotMatch(html, /<style|style="/, 'no inline styles');
  });

  it('escapes the setting it embeds', () => {
    assert.match(html, /data-default-filters="&quot;w\+x \\&quot;&gt;&lt;script&gt;&quot;"/);
  });
});
