/**
 * The layers of src/, held by a test: every import (type-only ones included) flows one way,
 *
 *   shared ← server/{log, standard-schema} ← server/stores ← server/{options, resolve-options} ← server/engine
 *          ← server/{http, socket} (never each other) ← server/{create, types} ← server/index
 *   shared ← browser ← react
 *
 * and no file imports itself through a cycle. Imports are read from the source text.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const src = join(root, 'src');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? files(join(dir, e.name))
      : e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/** The relative imports of a file (static, dynamic, type-only, re-exports), as src-relative paths. */
function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8')
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g)) {
    const target = resolve(dirname(file), m[1]!).replace(/\.js$/, '.ts');
    found.push(relative(src, target));
  }
  return found;
}

/** A file's layer: a rank (imports may go to the same or a lower rank) and a name. */
function layerOf(path: string): { rank: number; name: string } {
  const p = path.replace(/\\/g, '/');
  if (p.startsWith('shared/')) return { rank: 0, name: 'shared' };
  if (p.startsWith('browser/')) return { rank: 1, name: 'browser' };
  if (p.startsWith('react/')) return { rank: 2, name: 'react' };
  if (p === 'server/log.ts' || p === 'server/standard-schema.ts') return { rank: 1, name: 'server leaf' };
  if (p.startsWith('server/stores/')) return { rank: 2, name: 'stores' };
  if (p === 'server/options.ts' || p === 'server/resolve-options.ts') return { rank: 3, name: 'options' };
  if (p.startsWith('server/engine/')) return { rank: 4, name: 'engine' };
  if (p.startsWith('server/http/')) return { rank: 5, name: 'http' };
  if (p.startsWith('server/socket/')) return { rank: 5, name: 'socket' };
  if (p === 'server/create.ts' || p === 'server/types.ts') return { rank: 6, name: 'create' };
  if (p === 'server/index.ts') return { rank: 7, name: 'index' };
  return { rank: -1, name: `unplaced (${p})` };
}

const all = files(src).map((f) => relative(src, f).replace(/\\/g, '/'));
const graph = new Map(all.map((f) => [f, importsOf(join(src, f))]));

// ---

const layers = suite('imports flow one way between the layers of src/');

layers('every file has a layer', () => {
  assert.equal(
    all.filter((f) => layerOf(f).rank < 0),
    [],
  );
});

layers('no import goes to a higher layer, and the browser, react and server sides never meet', () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    const from = layerOf(file);
    for (const target of imports) {
      const to = layerOf(target);
      const sideways =
        (from.name === 'http' && to.name === 'socket') ||
        (from.name === 'socket' && to.name === 'http') ||
        (file.startsWith('browser/') && target.startsWith('server/')) ||
        (file.startsWith('server/') && (target.startsWith('browser/') || target.startsWith('react/'))) ||
        (file.startsWith('react/') && !target.startsWith('browser/') && !target.startsWith('react/'));
      if (to.rank > from.rank || sideways) wrong.push(`${file} (${from.name}) imports ${target} (${to.name})`);
    }
  }
  assert.equal(wrong, []);
});

layers('no import cycle, type-only imports included', () => {
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (file: string, trail: string[]): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      cycles.push([...trail.slice(trail.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...trail, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.equal(cycles, []);
});

layers('the check sees a wrong-way import (it can fail)', () => {
  assert.is(layerOf('server/engine/core.ts').rank > layerOf('server/stores/store.ts').rank, true);
  assert.ok(importsOf(join(src, 'server/index.ts')).includes('server/create.ts'));
});

layers.run();
