// Messages between the map webview (media/map.ts) and its host (mapPanel.ts).
import type { StopFigures } from './controller';
import type { MapData, MapFilter } from './mapData';

export type ToWebview =
  /** timed: a new build for a stop: answer 'drawn' once it is on screen. */
  | { type: 'data'; data: MapData; title: string; timed?: boolean }
  /** The stop's figures once its map was drawn (body[data-timing], read by the e2e suite). */
  | { type: 'figures'; figures: DrawnFigures }
  /** No data to show: no session, running, no physical memory, the build cancelled or failed. */
  | { type: 'status'; message: string; kind?: 'cancelled' | 'error' }
  | { type: 'trace'; index: number; va: string; text: string }
  /** Select and scroll to the range containing this VA (Show in Map). */
  | { type: 'select'; va: string };

export type FromWebview =
  | { type: 'ready' }
  | { type: 'trace'; index: number; va: string }
  | { type: 'export'; format: 'csv' | 'json'; rows: number[] }
  | { type: 'reveal'; va: string }
  /** The rows of the data message with `timing` are on screen (Date.now() then). */
  | { type: 'drawn'; at: number };

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
  drawnAt: number;
}
