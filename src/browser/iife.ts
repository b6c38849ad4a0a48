// The entry of dist/session-sync.iife.min.js (package.json "unpkg"): the global `SessionSync`
// for a plain <script> tag, with socket.io-client and idb-keyval bundled in.
export { session, createSession } from './index.js';
