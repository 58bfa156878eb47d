// The map webview's HTML shell (pure, so the scale test in test/e2e serves the very same page).
// Strict CSP: scripts only with the nonce, styles and fonts only from the extension; no data in
// the HTML: everything arrives by postMessage and is inserted as text.

export interface MapHtmlOptions {
  readonly cspSource: string;
  readonly nonce: string;
  readonly script: string;
  readonly style: string;
  readonly defaultFilters?: string;
}

export function escapeAttr(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function mapHtml(o: MapHtmlOptions): string {
  const csp = `default-src 'none'; style-src ${o.cspSource}; font-src ${o.cspSource}; img-src ${o.cspSource}; script-src 'nonce-${o.nonce}';`;
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="${escapeAttr(o.style)}">
<title>Address-Space Map</title></head>
<body data-default-filters="${escapeAttr(JSON.stringify(o.defaultFilters ?? ''))}">
<div id="toolbar">
  <vscode-checkbox id="f-w" label="w"></vscode-checkbox>
  <vscode-checkbox id="f-x" label="x"></vscode-checkbox>
  <vscode-checkbox id="f-u" label="u"></vscode-checkbox>
  <vscode-checkbox id="f-wx" label="W+X"></vscode-checkbox>
  <vscode-checkbox id="f-findings" label="findings"></vscode-checkbox>
  <vscode-checkbox id="f-changed" label="changed since last stop"></vscode-checkbox>
  <vscode-single-select id="f-memtype" aria-label="memory type"><vscode-option value="">any type</vscode-option></vscode-single-select>
  <vscode-single-select id="f-pagesize" aria-label="page size"><vscode-option value="">any size</vscode-option></vscode-single-select>
  <vscode-textfield id="f-va" placeholder="VA range (a-b, a+len)"></vscode-textfield>
  <vscode-textfield id="f-pa" placeholder="PA range"></vscode-textfield>
  <vscode-textfield id="f-text" placeholder="text"></vscode-textfield>
  <vscode-button id="export-csv" secondary>CSV</vscode-button>
  <vscode-button id="export-json" secondary>JSON</vscode-button>
</div>
<div id="summary"></div>
<div id="strip-box"><canvas id="strip" height="36"></canvas><div id="strip-labels"></div></div>
<div id="table">
  <div class="row head"><span>VA</span><span>end</span><span>PA</span><span>size</span><span>page</span><span>rights</span><span>type</span><span>root</span><span>region / finding</span></div>
  <div id="scroller"><div id="spacer"></div></div>
</div>
<pre id="trace"></pre>
<script nonce="${escapeAttr(o.nonce)}" src="${escapeAttr(o.script)}"></script>
</body></html>`;
}
