// The build: `rollup -c` writes everything under dist/.
//
// Why esbuild + rollup-plugin-dts and not @rollup/plugin-typescript: TypeScript 7 is a native
// binary without the JS compiler API that @rollup/plugin-typescript drives, and the plugin fails
// with it (rollup/plugins#2016). So esbuild strips the types (fast, no type checking: `npm run
// typecheck` runs tsc for that) and rollup-plugin-dts bundles the declarations with the
// TypeScript we pin (~6.0.3) as a library.
//
// Outputs (see package.json "exports"):
//   dist/server.js  dist/shared.js  dist/browser.js  [dist/react.js]   ESM, one graph
//   dist/server.cjs dist/shared.cjs dist/index.cjs                      CommonJS for Node
//   dist/session-sync.iife.min.js                                       the one browser file
//   dist/*.d.ts (+ server/shared/index .d.cts for `require`)            declarations
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import commonjs from '@rollup/plugin-commonjs';
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import dts from 'rollup-plugin-dts';
import esbuild from 'rollup-plugin-esbuild';

// src/react lands later (issue 5); build it as soon as its entry exists.
const hasReact = existsSync('src/react/index.ts');

const nodeEntries = { server: 'src/server/index.ts', shared: 'src/shared/index.ts' };
const esmEntries = {
  ...nodeEntries,
  browser: 'src/browser/index.ts',
  ...(hasReact ? { react: 'src/react/index.ts' } : {}),
};

// Every bare import (express, socket.io-client, idb-keyval, react, node:crypto, ...) stays
// external, as zustand does: a consumer's bundler then never gets a second copy of a library.
const external = (id) => !id.startsWith('.') && !isAbsolute(id) && !id.startsWith('\0');

// All of src/shared in ONE chunk (dist/shared.js), and all of src/browser in dist/browser.js:
// without this rollup splits them by which entries use which module (hashed chunks for the parts
// server and browser, or browser and react, have in common).
const manualChunks = (id) => /[\\/]src[\\/](shared|browser)[\\/]/.exec(id)?.[1];

// Sources import siblings as './x.js' (NodeNext style); point rollup at the './x.ts' on disk.
const tsJsExtension = {
  name: 'ts-js-extension',
  async resolveId(source, importer, options) {
    if (!importer || /[\\/]node_modules[\\/]/.test(importer)) return null;
    if (!source.startsWith('.') || !source.endsWith('.js')) return null;
    const resolved = await this.resolve(source.slice(0, -3) + '.ts', importer, { ...options, skipSelf: true });
    return resolved ?? null;
  },
};

/**
 * `require('session-sync')` must be the factory itself (the seed package's shape), with the
 * named exports as its properties. Rollup's CommonJS output for a module with a default and
 * named exports gives `exports.default` instead, so a hand-written entry
 * (src/server/index.cjs) is copied next to server.cjs as dist/index.cjs.
 */
const cjsIndexEntry = {
  name: 'cjs-index-entry',
  generateBundle() {
    this.emitFile({ type: 'asset', fileName: 'index.cjs', source: readFileSync('src/server/index.cjs', 'utf8') });
  },
};

/** The declarations of the `require` side import './shared.cjs', which TS maps to shared.d.cts. */
const dtsCjsImports = {
  name: 'dts-cjs-imports',
  renderChunk(code) {
    return code
      .replace(/(from\s+['"]\.\/[\w.-]+)\.d\.cts(['"])/g, '$1.cjs$2')
      .replace(/(from\s+['"]\.\/[\w.-]+)\.js(['"])/g, '$1.cjs$2');
  },
  generateBundle() {
    this.emitFile({ type: 'asset', fileName: 'index.d.cts', source: readFileSync('src/server/index.d.cts', 'utf8') });
  },
};

/**
 * esbuild for the transform only. rollup-plugin-esbuild also resolves relative imports itself,
 * ahead of @rollup/plugin-node-resolve (whose resolveId runs late), which skips the package.json
 * "browser" field: engine.io-client's './transports/polling-xhr.node.js' would then stay the Node
 * file and pull `xmlhttprequest-ssl` and `ws` into the IIFE. Resolution is tsJsExtension's and
 * node-resolve's job.
 */
const transpile = (target) => {
  const plugin = esbuild({ target });
  delete plugin.resolveId;
  return plugin;
};

/** Lists what the shim stood in for, so a missing browser export never goes by unnoticed. */
const onwarn = (warning, warn) => {
  if (warning.code === 'SHIMMED_EXPORT') {
    console.warn(
      `session-sync build: the IIFE shims a missing export (${warning.message}); src/browser must export it`,
    );
    return;
  }
  warn(warning);
};

// Shared with scripts/size.mjs, which measures the browser SDK the same way it is built.
export { tsJsExtension, transpile };

export default [
  // One graph for every entry, so src/shared is one chunk (dist/shared.js) that server, browser
  // and react import, never a copy per entry.
  {
    input: esmEntries,
    external,
    // The libraries have no side effects we rely on: react.js imports './browser.js', not also
    // a bare `import 'socket.io-client'` for the modules browser.js holds.
    treeshake: { moduleSideEffects: (id, isExternal) => !isExternal },
    plugins: [tsJsExtension, transpile('es2022')],
    output: {
      dir: 'dist',
      format: 'es',
      manualChunks,
      hoistTransitiveImports: false,
      entryFileNames: '[name].js',
      chunkFileNames: '[name]-[hash].js',
    },
  },
  // CommonJS for what Node may `require`: server and shared (the browser entries are ESM only).
  {
    input: nodeEntries,
    external,
    plugins: [tsJsExtension, transpile('es2022'), cjsIndexEntry],
    output: {
      dir: 'dist',
      format: 'cjs',
      exports: 'named',
      manualChunks,
      entryFileNames: '[name].cjs',
      chunkFileNames: '[name]-[hash].cjs',
    },
  },
  // The one self-contained browser file for a <script> tag (package.json "unpkg"): the global
  // `SessionSync` = { session, createSession }, with socket.io-client and idb-keyval inside.
  {
    input: 'src/browser/iife.ts',
    // Until src/browser exports session/createSession (issue 5) the IIFE still builds; the
    // package test (test/build) asserts both names and fails meanwhile.
    shimMissingExports: true,
    onwarn,
    plugins: [
      tsJsExtension,
      // `browser: true` picks the "browser" fields: engine.io-client's Node ESM build would pull
      // its Node transports (`ws`, `xmlhttprequest-ssl`) into a page bundle.
      nodeResolve({ browser: true, preferBuiltins: false }),
      commonjs(),
      transpile('es2020'),
    ],
    output: {
      file: 'dist/session-sync.iife.min.js',
      format: 'iife',
      name: 'SessionSync',
      plugins: [terser()],
    },
  },
  // Declarations for every entry, bundled the same way (shared stays one file).
  {
    input: esmEntries,
    external,
    plugins: [tsJsExtension, dts()],
    output: {
      dir: 'dist',
      format: 'es',
      manualChunks,
      entryFileNames: '[name].d.ts',
      chunkFileNames: '[name]-[hash].d.ts',
    },
  },
  {
    input: nodeEntries,
    external,
    plugins: [tsJsExtension, dts(), dtsCjsImports],
    output: {
      dir: 'dist',
      format: 'es',
      manualChunks,
      entryFileNames: '[name].d.cts',
      chunkFileNames: '[name]-[hash].d.cts',
    },
  },
];
