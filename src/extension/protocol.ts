// Messages between the map webview (media/map.ts) and its host (mapPanel.ts). The webview's
// requests carry an id and get exactly one response with that id (rpc.ts): a failed request
// answers with its error, which the map shows.
import type { StopFigures } from './controller';
import type { MapData, MapFilter } from './mapData';
import type { RequestEnvelope, ResponseEnvelope } from './rpc';

/** Per-row marks of the changes since the last (or the pinned) stop; see changeModel.ts MapMarks. */
export interface MapChanges {
  /** "the last stop (#3)" / "the pinned stop #1". */
  readonly since: string;
  /** Per row: 0 unchanged, 1 added, 2 changed. */
  readonly kind: Uint8Array;
  /** Per row: index into texts, or -1. */
  readonly text: Int32Array;
  readonly texts: string[];
  readonly removed: number;
  /** Changes in all (root switches and table changes included), for the summary. */
  readonly total: number;
}

export type ToWebview =
  /** timed: a new build for a stop: answer 'drawn' once it is on screen. */
  | { type: 'data'; data: MapData; title: string; timed?: boolean }
  /** The stop's figures once its map was drawn (body[data-timing], read by the e2e suite). */
  | { type: 'figures'; figures: DrawnFigures }
  /** No data to show: no session, running, no physical memory, the build cancelled or failed. */
  | { type: 'status'; message: string; kind?: 'cancelled' | 'error' }
  /** Select and scroll to the range containing this VA (Show in Map). */
  | { type: 'select'; va: string }
  /** The changes over the rows of the last `data` (none: no baseline to compare with). */
  | { type: 'changes'; changes: MapChanges | null }
  | ResponseEnvelope;

/** What the webview asks of the host; each answers with one response of the result type below. */
export type MapRequest =
  /** → TraceResult */
  | { type: 'trace'; index: number; va: string }
  /** → the path written, or null when the user cancelled the dialog */
  | { type: 'export'; format: 'csv' | 'json'; rows: number[] }
  /** → true when the tree showed the entry */
  | { type: 'reveal'; va: string };

export interface TraceResult {
  index: number;
  va: string;
  text: string;
}

export type FromWebview =
  | { type: 'ready' }
  /**
   * The rows of the data message with `timed` are on screen (Date.now() after the frame that
   * painted them); received and handled: when the message reached the webview's script and when
   * its handler ended. Not a request.
   */
  | { type: 'drawn'; at: number; received?: number; handled?: number }
  | RequestEnvelope<MapRequest>;

/** What the webview keeps through getState/setState (and the serializer restores). */
export interface MapViewState {
  filter: MapFilter;
  scrollTop: number;
  selected?: string;
  /** Visible window of the strip, as fractions of the whole axis. */
  zoom: [number, number];
}

/** A stop's figures (controller.ts) with when the host sent the map and when it was on screen (Date.now()). */
export interface DrawnFigures extends StopFigures {
  postedAt: number;
  /** The webview got the message, had built the rows and strip, and had painted them. */
  receivedAt?: number;
  handledAt?: number;
  drawnAt: number;
}
