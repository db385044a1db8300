/**
 * The browser bench's own vitest project: the root config's `browser` project (SQLocal's vite
 * plugin, COOP/COEP headers so OPFS works, Debian's chromium through @vitest/browser-playwright,
 * the `durably` alias to src/), running only bench/browser/*.bench-browser.ts, one file, alone.
 *
 *   npx vitest run --config bench/browser/vitest.config.ts
 *
 * JSON lines go to stdout through the `report` command below (so they are not interleaved with
 * vitest's console framing); progress notes go to stderr. Sizes by environment variable:
 * BROWSER_BENCH_STEPS (steps of the per-step run, default 100), BROWSER_BENCH_RUNS (3-step runs
 * of the throughput workload, default 30), BROWSER_BENCH_ROUNDS (alternating rounds, default 3).
 * BROWSER_BENCH_PROFILE=disk: a persistent profile, OPFS on disk (see below).
 * BROWSER_BENCH_SRC: another copy of src/ to measure (the `durably` alias points there), e.g. a
 * commit's, taken with `git archive <commit> src | tar -x -C .scratch/x` while src/ is mid-edit.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { playwright } from '@vitest/browser-playwright'
import sqlocal from 'sqlocal/vite'
import { defineConfig } from 'vitest/config'
import type { BrowserCommand } from 'vitest/node'
import { findChromium } from '../../tests/support/chromium.js'

const chromium = findChromium()
if (!chromium)
  throw new Error('the browser bench needs chromium on PATH (apt-get install chromium)')

const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
}

const report: BrowserCommand<[line: Record<string, unknown>]> = (_context, line) => {
  process.stdout.write(`${JSON.stringify(line)}\n`)
}
const note: BrowserCommand<[text: string]> = (_context, text) => {
  process.stderr.write(`[bench:browser] ${text}\n`)
}

// Playwright's default context is incognito-like: Chromium keeps its OPFS in the browser
// process's memory and every sync-access-handle read or write is an IPC there. A real profile
// keeps OPFS on disk and writes from the worker directly. BROWSER_BENCH_PROFILE=disk runs the
// bench in a persistent context on a fresh profile directory (removed on exit), as a user's
// browser would; the default is the repository's browser tests' context.
const diskProfile = process.env.BROWSER_BENCH_PROFILE === 'disk'
const profile = diskProfile
  ? mkdtempSync(join(tmpdir(), 'durably-browser-bench-profile-'))
  : undefined
if (profile) process.on('exit', () => rmSync(profile, { recursive: true, force: true }))

const size = (name: string, fallback: number) => {
  const value = Number(process.env[name] ?? fallback)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer`)
  return value
}

export default defineConfig({
  plugins: [sqlocal()],
  resolve: {
    alias: {
      durably: process.env.BROWSER_BENCH_SRC
        ? resolvePath(process.env.BROWSER_BENCH_SRC, 'index.ts')
        : fileURLToPath(new URL('../../src/index.ts', import.meta.url)),
    },
  },
  server: { headers: crossOriginIsolation },
  optimizeDeps: { exclude: ['sqlocal'] },
  test: {
    name: 'browser-bench',
    root: fileURLToPath(new URL('../..', import.meta.url)),
    include: ['bench/browser/**/*.bench-browser.ts'],
    maxWorkers: 1,
    testTimeout: 600_000,
    hookTimeout: 60_000,
    provide: {
      steps: size('BROWSER_BENCH_STEPS', 100),
      runs: size('BROWSER_BENCH_RUNS', 30),
      rounds: size('BROWSER_BENCH_ROUNDS', 3),
      profile: diskProfile ? 'disk' : 'incognito',
    },
    browser: {
      enabled: true,
      headless: true,
      commands: { report, note },
      provider: playwright({
        ...(profile ? { persistentContext: profile } : {}),
        launchOptions: {
          executablePath: chromium,
          args: [
            '--no-sandbox',
            '--disable-gpu',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            '--no-first-run',
          ],
        },
      }),
      instances: [{ browser: 'chromium' as const }],
    },
  },
})

declare module 'vitest' {
  export interface ProvidedContext {
    steps: number
    runs: number
    rounds: number
    profile: 'disk' | 'incognito'
  }
}
