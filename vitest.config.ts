import { fileURLToPath } from 'node:url'
import { playwright } from '@vitest/browser-playwright'
import sqlocal from 'sqlocal/vite'
import { defineConfig } from 'vitest/config'
import { findChromium } from './tests/support/chromium.js'

const chromium = findChromium()
if (!chromium) {
  if (process.env.CI === 'true') throw new Error('CI requires chromium for the browser tests')
  console.warn(
    '[durably tests] skipping browser tests: no chromium on PATH (apt-get install chromium)',
  )
}

// OPFS needs a cross-origin isolated page; vitest copies these onto its own pages.
const crossOriginIsolation = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
}

// `durably` is this repository's source, as the root tsconfig.json maps it for tsc and tsx:
// examples import it by name, as an app does. The browser project does not extend this
// config, so it is given the same `resolve` itself.
const resolve = {
  alias: { durably: fileURLToPath(new URL('./src/index.ts', import.meta.url)) },
}

export default defineConfig({
  resolve,
  test: {
    // The machine has two cores and the suites spawn processes and servers of their own.
    maxWorkers: 2,
    globalSetup: ['tests/support/sweep-temp.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          sequence: { groupOrder: 0 },
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/browser/**', 'node_modules/**'],
          testTimeout: 30_000,
          hookTimeout: 30_000,
        },
      },
      ...(chromium
        ? [
            {
              plugins: [sqlocal()],
              resolve,
              server: { headers: crossOriginIsolation },
              optimizeDeps: { exclude: ['sqlocal'] },
              test: {
                name: 'browser',
                // Alone, after the node project: beside the crash suites' worker processes
                // on two cores, Chromium's timers ran seconds late and leases expired.
                sequence: { groupOrder: 1 },
                include: ['tests/browser/**/*.test.ts'],
                testTimeout: 60_000,
                hookTimeout: 30_000,
                browser: {
                  enabled: true,
                  headless: true,
                  provider: playwright({
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
            },
          ]
        : []),
    ],
  },
})
