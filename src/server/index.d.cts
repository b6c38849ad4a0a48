// Copied verbatim to dist/index.d.cts by rollup.config.mjs: the types of `require('session-sync')`.
// At run time that is the factory with the named exports as properties (and `.default`), so
// `const { createSessionSync } = require('session-sync')`, `require('session-sync').default` and
// esModuleInterop's `import createSessionSync from 'session-sync'` all match these types.
export * from './server.cjs';
export { default } from './server.cjs';
