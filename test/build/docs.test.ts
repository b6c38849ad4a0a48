// What the registry page and the tarball show a user: the README (shipped, and rendered away
// from the repository, so its links must be absolute), the LICENSE and package.json's links.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const root = fileURLToPath(new URL('../..', import.meta.url));
const text = (file: string): string => readFileSync(join(root, file), 'utf8');
const pkg = JSON.parse(text('package.json'));
const readme = text('README.md');
const REPO = 'https://github.com/session-sync/session-sync';

// ---

const firstScreen = suite("the README's first screen says what a consumer installs");

firstScreen('the first command is the install line, then the contributor commands, before any section', () => {
  const top = readme.slice(0, readme.indexOf('\n## '));
  const blocks = [...top.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());
  assert.ok(blocks.length >= 2, 'two shell blocks above the first section');
  assert.is(blocks[0], 'npm i session-sync express socket.io socket.io-client');
  assert.match(blocks[1]!, /^npm install && npm start\s+#/m);
  assert.match(blocks[1]!, /^npm test\s+#/m);
});

firstScreen('the README shows how to serve the IIFE file from Express', () => {
  assert.is(pkg.exports['./iife'], './dist/session-sync.iife.min.js');
  assert.match(readme, /resolve\('session-sync\/iife'\)/);
  assert.match(readme, /res\.sendFile\(/);
});

firstScreen.run();

// ---

const links = suite('links work on the registry page');

links('every link and image of the README is absolute or an anchor of the README itself', () => {
  const anchors = new Set(
    [...readme.matchAll(/^#+ (.+)$/gm)].map((m) =>
      m[1]!
        .toLowerCase()
        .replace(/[^\w\- ]/g, '')
        .replace(/ /g, '-'),
    ),
  );
  const targets = [...readme.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
  assert.ok(targets.length > 10, 'links were found');
  for (const target of targets) {
    if (target.startsWith('#')) assert.ok(anchors.has(target.slice(1)), `no section for ${target}`);
    else assert.match(target, /^https:\/\//, `relative link ${target} breaks on the registry page`);
  }
});

links('links into the repository name files that exist in it', () => {
  for (const [, kind, path] of readme.matchAll(
    /https:\/\/github\.com\/session-sync\/session-sync\/(blob|raw)\/main\/([^)\s#]+)/g,
  )) {
    assert.ok(existsSync(join(root, path!)), `${kind}/main/${path} is not in the repository`);
  }
});

links('package.json names the repository, its home page and where bugs go', () => {
  assert.equal(pkg.repository, { type: 'git', url: `git+${REPO}.git` });
  assert.is(pkg.homepage, `${REPO}#readme`);
  assert.equal(pkg.bugs, { url: `${REPO}/issues` });
});

links.run();

// ---

const files = suite('the repository and the package cite no file they do not hold');

/** Text files under a folder of the repository. */
function textFiles(dir: string): string[] {
  if (!existsSync(join(root, dir))) return [];
  return readdirSync(join(root, dir), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && /\.(ts|cts|mts|js|cjs|mjs|md|json|html|css)$/.test(e.name))
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

files('no source, test, doc or built file cites the design notes, which are not in the repository', () => {
  const all = [
    ...['src', 'test', 'dist', 'scripts', 'bench', 'demo', 'docs'].flatMap(textFiles),
    ...['README.md', 'PROTOCOL.md', 'SECURITY.md', 'package.json', 'rollup.config.mjs'].map((f) => join(root, f)),
  ].filter((f) => !f.includes(`${join(root, 'bench', 'results')}`));
  assert.ok(all.length > 50, 'files were found');
  const needle = ['DESIGN', 'md'].join('.'); // not spelled out, so this file does not match itself
  for (const file of all) {
    assert.not.ok(readFileSync(file, 'utf8').includes(needle), `${file.slice(root.length)} cites ${needle}`);
  }
});

files('an MIT LICENSE for the session-sync contributors ships in the package', () => {
  const license = text('LICENSE');
  assert.is(pkg.license, 'MIT');
  assert.match(license, /^MIT License/);
  assert.match(license, /Copyright \(c\) 2026 session-sync contributors/);
});

files.run();
