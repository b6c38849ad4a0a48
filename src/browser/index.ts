// Placeholder entry: the browser SDK lands with issue 5.
export { PROTOCOL_VERSION } from '../shared/index.js';
