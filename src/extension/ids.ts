// Every command, view, context key and setting id in one place (package.json uses the same).
export const VIEW_ID = 'ptview.pageTables';
export const MAP_VIEW_TYPE = 'ptview.map';
export const TRACE_SCHEME = 'ptview-trace';
export const OUTPUT_NAME = 'ptview';

export const CMD = {
  translate: 'ptview.translate',
  findPhysical: 'ptview.findPhysical',
  audit: 'ptview.audit',
  showMap: 'ptview.showMap',
  refresh: 'ptview.refresh',
  chooseStrategy: 'ptview.chooseStrategy',
  translateVariable: 'ptview.translateVariable',
  translateHere: 'ptview.translateHere',
  showInMap: 'ptview.showInMap',
  revealVa: 'ptview.revealVa',
  copyVa: 'ptview.copyVa',
  copyPa: 'ptview.copyPa',
  copyRaw: 'ptview.copyRaw',
  findAliases: 'ptview.findAliases',
  simulate: 'ptview.simulate',
  focusView: 'ptview.pageTables.focus',
  pinBaseline: 'ptview.pinBaseline',
  unpinBaseline: 'ptview.unpinBaseline',
} as const;

/** Context keys the manifest's `when` clauses read. */
export const CTX = {
  active: 'ptview.active',
  /** 'none' | 'waiting' | 'running' | 'no-memory' | 'error' | 'stopped' | 'loading' | 'ready'. */
  state: 'ptview.state',
} as const;

export const CONFIG = 'ptview';
