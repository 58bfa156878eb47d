// Bundled in place of src/debug/index.ts while that module does not exist in this checkout.
import type { OpenLiveTarget } from '../debug/api';
import { LiveAccessError } from '../debug/api';

export const openLiveTarget: OpenLiveTarget = async () => {
  throw new LiveAccessError('unsupported-adapter', 'this build of ptview has no live-debug layer (src/debug/index.ts was missing when it was bundled)');
};
