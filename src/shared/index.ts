/**
 * `session-sync/shared`: the protocol, ops and guards used by both the server and the
 * browser. Nothing here does I/O.
 *
 * @packageDocumentation
 */
export * from './errors.js';
export * from './json.js';
export * from './path.js';
export * from './ops.js';
export * from './protocol.js';
export * from './guards.js';
