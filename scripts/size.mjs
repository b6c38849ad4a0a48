#!/usr/bin/env node
// The size budget of the browser SDK's own code: src/browser (and the parts of src/shared it
// uses), tree-shaken, minified and gzipped, with socket.io-client and idb-keyval left out (an
// app that talks Socket.IO has the client already). Fails over the budget. Prints the figure
// beside socket.io-client's own, for scale.
import { gzipSync } from 'node:zlib';
import commonjs from '@rollup/plugin-commonjs';
import nodeResolve from '@rollup/plugin-node-resolve';
import { rollup } from 'rollup';
import { minify } from 'terser';
import { transpile, tsJsExtension } from '../rollup.config.mjs';

// The 4096 B target is NOT met. Measured per feature (removing each from the bundle): the
// guards that check every server message, the cache and other tabs ~1.25 KB; assertJson naming
// the path ~0.4 KB; the lifecycle the SDK must keep — writes owned by their session, the epoch
// and deadline rules, one phase union with its transition table — ~0.4 KB; applyOps/diff for
// optimistic writes, update() and increment(). The ceiling moved from 6800 B (protocol 1) to
// 8100 B with protocol 3 and the lifecycle rules (measured 8005 B); CI holds it so the SDK can
// only shrink, and TARGET is printed beside it.
const TARGET = 4096; // bytes, min+gzip: the goal
const BUDGET = 8100; // bytes, min+gzip: the ceiling CI enforces today
const EXCLUDED = ['socket.io-client', 'idb-keyval'];
const VIRTUAL_IO = 'virtual:socket.io-client';

/** Bundles one entry for the browser and returns [minified bytes, min+gzip bytes, bundled packages]. */
async function measure(input, external) {
  const packages = new Set();
  const bundle = await rollup({
    input,
    external,
    onwarn: (w, warn) => (w.code === 'SHIMMED_EXPORT' ? undefined : warn(w)),
    plugins: [
      {
        // socket.io-client alone, as an app would import it.
        name: 'virtual-entry',
        resolveId: (id) => (id === VIRTUAL_IO ? id : null),
        load: (id) => (id === VIRTUAL_IO ? "export * from 'socket.io-client';" : null),
      },
      tsJsExtension,
      nodeResolve({ browser: true, preferBuiltins: false }),
      commonjs(),
      transpile('es2020'),
      {
        name: 'list-packages',
        moduleParsed({ id }) {
          const m = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(id);
          if (m) packages.add(m[1].replace(/\\/g, '/'));
        },
      },
    ],
  });
  const { output } = await bundle.generate({ format: 'es' });
  await bundle.close();
  const { code } = await minify(output[0].code, { module: true, compress: { passes: 2 } });
  return [Buffer.byteLength(code), gzipSync(code, { level: 9 }).length, [...packages]];
}

const isExcluded = (id) => EXCLUDED.some((p) => id === p || id.startsWith(`${p}/`));
const [sdkMin, sdkGz, sdkPackages] = await measure('src/browser/index.ts', isExcluded);
// The same without src/shared, to tell the SDK's own files from the protocol code it shares.
const [, browserOnlyGz] = await measure('src/browser/index.ts', (id) => isExcluded(id) || /(^|\/)shared\//.test(id));
const [ioMin, ioGz] = await measure(VIRTUAL_IO, () => false);

const kb = (n) => `${(n / 1024).toFixed(2)} KiB`;
console.log(
  `browser SDK (own code, without ${EXCLUDED.join(' and ')}): ${sdkGz} B min+gzip (${kb(sdkMin)} min); budget ${BUDGET} B, target ${TARGET} B${sdkGz > TARGET ? ' (not met)' : ''}`,
);
console.log(`  of which src/browser alone: ${browserOnlyGz} B, src/shared: ~${Math.max(0, sdkGz - browserOnlyGz)} B`);
if (sdkPackages.length) console.log(`  packages bundled into that figure: ${sdkPackages.join(', ')}`);
console.log(`socket.io-client alone, for scale: ${ioGz} B min+gzip (${kb(ioMin)} min)`);
if (sdkGz > BUDGET) {
  console.error(`session-sync: the browser SDK is ${sdkGz - BUDGET} B over its ${BUDGET} B budget`);
  process.exit(1);
}
