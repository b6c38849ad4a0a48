// The tarball as the registry gets it, checked by the ecosystem's own linters: what it holds,
// @arethetypeswrong/cli (types resolve and match the JavaScript for every entry under node10,
// node16 CJS/ESM and bundler) and publint --strict.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { missing, repo, runIn, workspace } from '../support/consumers.js';

const bin = (name: string): string => {
  const file = join(repo, 'node_modules', '.bin', name);
  if (!existsSync(file)) missing(name, 'npm ci');
  return file;
};

// ---

const contents = suite('the tarball ships dist, README, LICENSE and package.json only');

contents('no sources, no source maps, nothing else', () => {
  const { files } = workspace();
  for (const file of files) {
    assert.match(file, /^package\/(dist\/[\w.-]+|README\.md|LICENSE|package\.json)$/, `the tarball holds ${file}`);
    assert.not.match(file, /\.map$/, `${file}: no source maps`);
  }
  for (const file of ['LICENSE', 'README.md', 'package.json', 'dist/index.cjs', 'dist/session-sync.iife.min.js']) {
    assert.ok(files.includes(`package/${file}`), `the tarball lacks ${file}`);
  }
});

contents.run();

// ---

const linters = suite('the ecosystem’s package linters find no problem');

linters('attw: every entry resolves to matching types under node10, node16 (CJS and ESM) and bundler', async () => {
  // Run from the repository so its .attw.json applies, as `npx attw --pack` there does: it
  // leaves out the "./iife" export, a plain <script> file with no module format and no types.
  const r = await runIn(repo, bin('attw'), [workspace().tarball, '--no-color', '--no-emoji']);
  assert.is(r.code, 0, `attw:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /No problems found/);
});

linters('publint --strict: clean', async () => {
  const r = await runIn(repo, bin('publint'), ['run', workspace().tarball, '--strict']);
  assert.is(r.code, 0, `publint:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /All good/);
});

linters.run();
