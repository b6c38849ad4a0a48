'use strict';
// Copied verbatim to dist/index.cjs by rollup.config.mjs (so './server.cjs' is its sibling there).
//
// `require('session-sync')` is the factory itself, as in the seed package
// (`const sessionSync = require('session-sync'); sessionSync(options)`), with every named
// export as a property (`require('session-sync').MemoryStore`). Rollup's CommonJS output for
// a module with a default and named exports gives `exports.default` instead; hence this file.
// `default` is copied too, so `require('session-sync').default` and TypeScript's
// esModuleInterop both find the factory.
const server = require('./server.cjs');

module.exports = Object.assign(server.default, server);
