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
//   dist/server.cjs dist/shared.cjs dist/browser.cjs [dist/react.cjs]  CommonJS, one graph
//   dist/index.cjs                                                      `require('session-sync')`
//   dist/session-sync.iife.min.js                                       the one browser file
//   dist/*.d.cts (every type, once) and dist/*.d.ts (re-exports)       declarations
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import commonjs from '@rollup/plugin-commonjs';
import nodeResolve from '@rollup/plugin-node-resolve';
import terser from '@rollup/plugin-terser';
import dts from 'rollup-plugin-dts';
import esbuild from 'rollup-plugin-esbuild';

// src/react lands later (issue 5); build it as soon as its entry exists.
const hasReact = existsSync('src/react/index.ts');

// Every entry is built as ESM and as CommonJS: the browser and react entries too, so a
// CommonJS test runner (Jest) can `require('session-sync/browser')`; socket.io-client,
// idb-keyval and react stay external there as everywhere.
const entries = {
  server: 'src/server/index.ts',
  shared: 'src/shared/index.ts',
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
 * `import.meta.url` in the CommonJS output: the file's URL from `__filename`. Rollup's own
 * rewrite spells it `require('u' + 'rl')`, a require of an expression that package checkers
 * read as an unknown package (and one that needs the `url` module by its old bare name).
 */
const cjsImportMetaUrl = {
  name: 'cjs-import-meta-url',
  resolveImportMeta(property, { format }) {
    if (format === 'cjs' && property === 'url') return `require('node:url').pathToFileURL(__filename).href`;
    return null;
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

/**
 * Every type is declared ONCE, in the CommonJS-format dist/*.d.cts, and each dist/<entry>.d.ts
 * (what `import` resolves to) only re-exports it. Two copies (one per format) would make two
 * distinct `SessionData` interfaces and two `declare global` merges: a program mixing .ts and
 * .cts files then fails with TS2717, and an augmentation written in one format would not reach
 * `req.session.val` typed by the other. An ES module may import a CommonJS one in every
 * module setting, so the ESM side can re-export the CJS declarations, not the other way round.
 *
 * - chunks import their siblings as './x.cjs', which TypeScript maps to x.d.cts;
 * - dist/index.d.cts (`require('session-sync')`, the factory itself) is the template
 *   src/server/index.d.cts with one namespace member per export of server.d.cts filled in, so
 *   it can never miss a name the server exports.
 */
const dtsSingleCopy = {
  name: 'dts-single-copy',
  renderChunk(code) {
    return (
      code
        .replace(/(from\s+['"]\.\/[\w.-]+)\.d\.cts(['"])/g, '$1.cjs$2')
        .replace(/(from\s+['"]\.\/[\w.-]+)\.js(['"])/g, '$1.cjs$2')
        // In a declaration file `export type { X }` and `export { X }` mean the same, but an
        // `export import X = server.X` alias (index.d.cts) may not name a type-only export.
        .replace(/^export type \{/gm, 'export {')
    );
  },
  generateBundle(_, bundle) {
    for (const chunk of Object.values(bundle)) {
      if (chunk.type !== 'chunk' || !chunk.isEntry) continue;
      const name = chunk.fileName.replace(/\.d\.cts$/, '');
      const lines = [`export * from './${name}.cjs';`];
      // `export *` skips the default export; re-export it by its own name, since a default
      // import of a CommonJS file from an ES module means `module.exports`, not `.default`.
      const local = /\b(\w+) as default\b/.exec(chunk.code)?.[1];
      if (local) lines.push(`import { ${local} } from './${name}.cjs';`, `export default ${local};`);
      this.emitFile({ type: 'asset', fileName: `${name}.d.ts`, source: lines.join('\n') + '\n' });
    }
    const server = bundle['server.d.cts'];
    const members = server.exports
      .filter((e) => e !== 'default')
      .map((e) => `  export import ${e} = server.${e};`)
      .join('\n');
    const template = readFileSync('src/server/index.d.cts', 'utf8');
    if (!template.includes('  // @exports\n')) throw new Error('src/server/index.d.cts lost its `// @exports` line');
    this.emitFile({
      type: 'asset',
      fileName: 'index.d.cts',
      source: template.replace('  // @exports\n', `${members}\n`),
    });
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
    input: entries,
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
  // CommonJS for every entry (see `entries`).
  {
    input: entries,
    external,
    treeshake: { moduleSideEffects: (id, isExternal) => !isExternal },
    plugins: [tsJsExtension, transpile('es2022'), cjsImportMetaUrl, cjsIndexEntry],
    output: {
      dir: 'dist',
      format: 'cjs',
      exports: 'named',
      manualChunks,
      hoistTransitiveImports: false,
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
  // Declarations for every entry, bundled the same way (shared stays one file): the .d.cts
  // files hold them, the .d.ts files re-export them (see dtsSingleCopy).
  {
    input: entries,
    external,
    plugins: [tsJsExtension, dts({ compilerOptions: { stripInternal: true } }), dtsSingleCopy],
    output: {
      dir: 'dist',
      format: 'es',
      manualChunks,
      entryFileNames: '[name].d.cts',
      chunkFileNames: '[name]-[hash].d.cts',
    },
  },
];
