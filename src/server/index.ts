// Placeholder entry: the server core lands in the next commits (issue 3).
export * from './store.js';
export { SessionSyncError, PROTOCOL_VERSION } from '../shared/index.js';

/** Placeholder until createSessionSync lands. */
export function createSessionSync(): never {
  throw new Error('session-sync: not built yet');
}
export default createSessionSync;
