/**
 * The React example (examples/react) in Debian's Chromium: Vite serves the page and, on the
 * same server, durably's handler over a libSQL file. A click triggers a run through
 * `useJob`; the progress bar it drives must climb through intermediate values to 100 % and
 * show the output, and the run list (`useRuns`, live over SSE) must show the run completed.
 * A screenshot of the finished page goes to tests/e2e/__screenshots__/ (not committed).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, chromium } from 'playwright-core'
import { createServer, type ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findChromium } from '../support/chromium.js'

const executablePath = findChromium()
const SCREENSHOTS = join(import.meta.dirname, '__screenshots__')

describe.skipIf(!executablePath)('React example in Chromium', () => {
  let server: ViteDevServer
  let browser: Browser
  let base: string
  let dir: string
  let previousDb: string | undefined

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'durably-react-example-'))
    previousDb = process.env.DURABLY_EXAMPLE_DB
    process.env.DURABLY_EXAMPLE_DB = join(dir, 'example.db')
    server = await createServer({
      configFile: 'examples/react/vite.config.ts',
      logLevel: 'error',
      server: { port: 0, host: '127.0.0.1' },
    })
    await server.listen()
    const { port } = server.httpServer!.address() as AddressInfo
    base = `http://127.0.0.1:${port}/`
    browser = await chromium.launch({
      executablePath: executablePath!,
      args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-sync'],
    })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await server?.close()
    if (previousDb === undefined) delete process.env.DURABLY_EXAMPLE_DB
    else process.env.DURABLY_EXAMPLE_DB = previousDb
    rmSync(dir, { recursive: true, force: true })
  })

  it('a click starts a run whose progress bar, driven by useJob, climbs to 100 % and shows the output', async () => {
    const page = await browser.newPage({ viewport: { width: 760, height: 620 } })
    try {
      const errors: string[] = []
      page.on('pageerror', (error) => errors.push(error.message))
      await page.goto(base)
      await page.fill('input[type=number]', '8')
      // Record every percentage the bar shows, in the page, from before the click on.
      await page.evaluate(() => {
        const seen: string[] = []
        Object.assign(window, { seen })
        const look = () => {
          const percent = document.querySelector<HTMLElement>('.run')?.dataset.percent
          if (percent !== undefined && seen.at(-1) !== percent) seen.push(percent)
          requestAnimationFrame(look)
        }
        look()
      })
      await page.click('#start')

      mkdirSync(SCREENSHOTS, { recursive: true })
      await page.waitForFunction(() => {
        const percent = Number(document.querySelector<HTMLElement>('.run')?.dataset.percent)
        return percent >= 50 && percent < 100
      })
      await page.screenshot({ path: join(SCREENSHOTS, 'react-progress-running.png') })

      await page.waitForSelector('.run[data-status="completed"]', { timeout: 30_000 })
      const seen = await page.evaluate(() => (window as unknown as { seen: string[] }).seen)
      expect(seen.at(-1)).toBe('100')
      expect(seen.some((value) => Number(value) > 0 && Number(value) < 100)).toBe(true)
      expect(await page.textContent('.done')).toBe('Imported 8 photos into “Holidays”.')
      expect(await page.getAttribute('.bar', 'aria-valuenow')).toBe('100')

      const runId = await page.getAttribute('.run', 'data-run-id')
      await page.waitForSelector(`tr[data-run-id="${runId}"] .status.completed`, {
        timeout: 30_000,
      })
      expect(errors).toEqual([])

      // The bar's width eases in over 0.2 s: let the transition end before the picture.
      await page.waitForFunction(
        () => document.querySelector('.fill')?.getAnimations().length === 0,
      )
      await page.screenshot({ path: join(SCREENSHOTS, 'react-progress.png') })
    } finally {
      await page.close()
    }
  }, 90_000)
})
