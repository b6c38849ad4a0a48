#!/usr/bin/env node
// Runs the test groups, each in its own process, and prints one set of totals.
//
// Why separate processes: uvu runs every file of one invocation in ONE process, and the browser
// tests install jsdom globals (window, document, indexedDB) that would leak into the server and
// e2e tests. So each group is `uvu -r tsx test/<group> '\.test\.ts$'` on its own.
//
//   node scripts/test.mjs                 all default groups, in order
//   node scripts/test.mjs server browser  only these groups
//   node scripts/test.mjs reliability --soak
//
// The last line is `Total: N passed, N failed, N skipped`, alone on its line (CI reads it). The
// exit code is non-zero when a test failed or a group's process crashed, hung or did not exit.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const DEFAULT_GROUPS = ['shared', 'server', 'browser', 'react', 'e2e', 'build', 'consumers'];
const PATTERN = /\.test\.ts$/;
// A group that runs longer than this is killed and counted as failed (CI has a hard limit).
// The soak mode of the reliability suites runs long on purpose: no limit there unless one is set.
const GROUP_TIMEOUT_MS =
  Number(process.env.TEST_GROUP_TIMEOUT_MS) || (process.argv.includes('--soak') ? 2 ** 31 - 1 : 20 * 60_000);
// uvu prints its totals when the last suite ends; a process still alive this long after that
// holds an open handle (a server, a socket, a BroadcastChannel) and would hang CI.
const EXIT_GRACE_MS = Number(process.env.TEST_EXIT_GRACE_MS) || 10_000;

const args = process.argv.slice(2);
const soak = args.includes('--soak');
const named = args.filter((a) => !a.startsWith('--'));
const groups = named.length ? named : DEFAULT_GROUPS;

/** @param {string} dir @returns {string[]} test files under dir, as uvu would find them */
function testFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && PATTERN.test(e.name))
    .map((e) => join(e.parentPath ?? e.path, e.name));
}

const stripAnsi = (s) => s.replace(/\u001b\[[0-9;]*m/g, '');

/** The last `label: N` figure uvu printed, or undefined. */
function figure(text, label) {
  const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\s*$`, 'gm'))];
  return all.length ? Number(all[all.length - 1][1]) : undefined;
}

/**
 * Runs one group and resolves with its counts.
 * @param {string} group
 * @returns {Promise<{ group: string, ran: boolean, passed: number, failed: number, skipped: number, problem?: string }>}
 */
function runGroup(group) {
  const dir = join('test', group);
  const files = testFiles(join(root, dir));
  if (files.length === 0) {
    console.log(`\n── ${dir}: no test files, skipped`);
    return Promise.resolve({ group, ran: false, passed: 0, failed: 0, skipped: 0 });
  }
  console.log(`\n── ${dir} (${files.length} file${files.length === 1 ? '' : 's'})`);
  const uvu = join(root, 'node_modules', 'uvu', 'bin.js');
  const env = { ...process.env, ...(soak ? { SESSION_SYNC_SOAK: '1' } : {}) };
  // uvu forces colour unless told not to; keep CI logs plain.
  const color = process.stdout.isTTY && !process.env.CI ? [] : ['--no-color'];
  const child = spawn(process.execPath, [uvu, '-r', 'tsx', ...color, dir, PATTERN.source], {
    cwd: root,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let problem;
  let graceTimer;
  const kill = (why) => {
    problem ??= why;
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3000).unref();
  };
  const timeout = setTimeout(() => kill(`timed out after ${GROUP_TIMEOUT_MS / 1000} s`), GROUP_TIMEOUT_MS);
  child.stdout.on('data', (chunk) => {
    process.stdout.write(chunk);
    out += chunk;
    if (!graceTimer && /^\s*Duration:/m.test(stripAnsi(out))) {
      graceTimer = setTimeout(
        () => kill(`finished its tests but did not exit within ${EXIT_GRACE_MS / 1000} s (an open handle)`),
        EXIT_GRACE_MS,
      );
    }
  });
  child.stderr.on('data', (chunk) => process.stderr.write(chunk));
  return new Promise((resolve) => {
    child.on('close', (code, signal) => {
      clearTimeout(timeout);
      clearTimeout(graceTimer);
      const text = stripAnsi(out);
      const total = figure(text, 'Total');
      const passed = figure(text, 'Passed');
      const skipped = figure(text, 'Skipped') ?? 0;
      if (total === undefined || passed === undefined) {
        problem ??= `crashed before printing its totals (exit code ${code}${signal ? `, ${signal}` : ''})`;
        resolve({ group, ran: true, passed: passed ?? 0, failed: 1, skipped, problem });
        return;
      }
      // uvu counts a suite whose before/after hook threw as run-but-not-passed with exit code 0,
      // so failures are total - passed, not the exit code alone.
      let failed = total - passed;
      if (!problem && code !== 0 && failed === 0) problem = `exited with code ${code}${signal ? ` (${signal})` : ''}`;
      if (problem && failed === 0) failed = 1; // the line must agree with the exit code
      resolve({ group, ran: true, passed, failed, skipped, problem });
    });
  });
}

const results = [];
for (const group of groups) results.push(await runGroup(group));

console.log('\n── per group');
for (const r of results) {
  const figures = r.ran ? `${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped` : 'no test files';
  console.log(`  test/${r.group}: ${figures}${r.problem ? `  ← ${r.problem}` : ''}`);
}
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const failed = sum('failed');
const line = `Total: ${sum('passed')} passed, ${failed} failed, ${sum('skipped')} skipped`;
if (results.every((r) => !r.ran))
  console.log(`\n(no test files found under ${relative(process.cwd(), join(root, 'test')) || 'test'})`);
console.log(`\n${line}`);
process.exitCode = failed > 0 || results.some((r) => r.problem) ? 1 : 0;
