// Server rendering with the packed package, in Node (no window): the README's React component
// under react-dom/server's renderToString, its Vue composable under Vue's renderToString(
// createSSRApp(App)), its Svelte component under svelte/server's render; and vue-tsc over the
// Vue composable with a SessionData augmentation. Each render runs in its own process, which
// must end by itself: server rendering opens no socket and starts no timer.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repo, requirePackages, runIn, typecheck, workspace, writeApp } from '../support/consumers.js';

requirePackages('react', 'react-dom', 'vue', 'vue-tsc', 'svelte', 'esbuild');

/** A fenced block of the README's "React, Vue, Svelte" section, by language and a line it holds. */
function readmeBlock(lang: string, holds: string): string {
  const readme = readFileSync(join(repo, 'README.md'), 'utf8');
  const start = readme.indexOf('## React, Vue, Svelte');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  for (const [, code] of section.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))) {
    if (code!.includes(holds)) return code!;
  }
  throw new Error(`the README's React, Vue, Svelte section has no \`\`\`${lang} block with ${holds}`);
}

/** Runs a render script in an app of the plain root; it prints one JSON line. */
async function render(name: string, files: Record<string, string>): Promise<{ html: string; [k: string]: unknown }> {
  const dir = writeApp(workspace().plain, name, { 'package.json': '{ "type": "module" }', ...files });
  // 10 s: a render that leaves a socket or a timer open keeps its process alive and fails here.
  const r = await runIn(dir, process.execPath, ['render.js'], 10_000);
  assert.is(r.code, 0, `${name} failed or did not exit by itself (an open socket or timer?):\n${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

// Waits on server rendering of the browser SDK (createSession without a window).
const ssr = suite('server rendering in Node, with no window');

ssr("React: the README's component under renderToString, and an instance given the server's initial", async () => {
  const { transform } = await import('esbuild');
  const component = await transform(`${readmeBlock('jsx', 'useSession')}\nexport { Theme };\n`, {
    loader: 'jsx',
    jsx: 'automatic',
    format: 'esm',
  });
  const out = await render('ssr-react', {
    'theme.js': component.code,
    'render.js': `import { createElement } from 'react';
import { renderToString } from 'react-dom/server';
import { createSession, session } from 'session-sync/browser';
import { useSession } from 'session-sync/react';
import { Theme } from './theme.js';

const mine = createSession({ initial: { version: 3, tag: 'abcdefghijklmnopqrstuv', data: { prefs: { theme: 'dark' } } } });
function Mine() {
  return createElement('i', null, useSession(mine, (d) => d.prefs.theme));
}
const html = renderToString(createElement('div', null, createElement(Theme), createElement(Mine)));
console.log(JSON.stringify({ html, status: session.status, data: session.data, mine: mine.data }));
`,
  });
  assert.is(out.html, '<div><button>light</button><i>dark</i></div>');
  assert.is(out.status, 'loading');
  assert.equal(out.data, {});
  assert.equal(out.mine, { prefs: { theme: 'dark' } });
});

ssr("Vue: the README's composable under renderToString(createSSRApp(App))", async () => {
  const out = await render('ssr-vue', {
    'use-session.js': readmeBlock('js', "from 'vue'"),
    'render.js': `import { createSSRApp, h } from 'vue';
import { renderToString } from 'vue/server-renderer';
import { useSession } from './use-session.js';

const App = {
  setup() {
    const data = useSession();
    return () => h('p', 'Theme: ' + (data.value.prefs?.theme ?? 'light'));
  },
};
console.log(JSON.stringify({ html: await renderToString(createSSRApp(App)) }));
`,
  });
  assert.is(out.html, '<p>Theme: light</p>');
});

ssr("Svelte: the README's component under svelte/server's render", async () => {
  const { compile } = await import('svelte/compiler');
  const { js } = compile(readmeBlock('svelte', '$session'), { generate: 'server', filename: 'Theme.svelte' });
  const out = await render('ssr-svelte', {
    'theme.js': js.code,
    'render.js': `import { render } from 'svelte/server';
import Theme from './theme.js';
console.log(JSON.stringify({ html: render(Theme).body }));
`,
  });
  assert.match(out.html, /<p>Theme: light<\/p>/);
});

ssr.run();

// ---

// Waits on the browser types (session.data typed from SessionData).
const vueTypes = suite("vue-tsc over the README's Vue composable");

vueTypes('a component using it sees the SessionData augmentation, without skipLibCheck', async () => {
  const dir = writeApp(workspace().plain, 'vue-tsc', {
    'package.json': '{ "type": "module" }',
    'use-session.ts': readmeBlock('js', "from 'vue'"),
    // The augmentation as a full-stack app writes it: beside an import of 'session-sync'. TypeScript
    // only merges into a module that is in the program, and a program that never imports
    // 'session-sync' gets TS2664 ("module 'session-sync' cannot be found") for it.
    'session-data.ts': `export type { SessionData } from 'session-sync';
declare module 'session-sync' {
  interface SessionData {
    prefs?: { theme?: 'dark' | 'light' };
  }
}
`,
    'Theme.vue': `<script setup lang="ts">
import { useSession } from './use-session';
const data = useSession();
const theme: 'dark' | 'light' | undefined = data.value.prefs?.theme;
// @ts-expect-error a theme is not a number
const wrong: number | undefined = data.value.prefs?.theme;
</script>

<template>
  <p :data-wrong="wrong">Theme: {{ data.prefs?.theme ?? theme ?? 'light' }}</p>
</template>
`,
    'tsconfig.json': JSON.stringify({
      compilerOptions: {
        module: 'esnext',
        moduleResolution: 'bundler',
        target: 'ES2022',
        lib: ['ES2022', 'DOM'],
        types: [],
        strict: true,
        skipLibCheck: false,
        // TypeScript's own lib files hold no error of ours (see types.test.ts).
        skipDefaultLibCheck: true,
        noEmit: true,
        jsx: 'preserve',
      },
      include: ['*.ts', '*.vue'],
    }),
  });
  const r = await typecheck(dir, 'vue-tsc');
  assert.is(r.all.join('\n'), '', `vue-tsc:\n${r.all.join('\n')}`);
});

vueTypes.run();
