/**
 * The browser example driven in real Chromium: a run survives closing its tab, resumes at
 * once when the page comes back (Web Locks tell the dead owner from a slow one), and two
 * tabs sharing one database never execute a run twice.
 */
import type { AddressInfo } from 'node:net'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'
import { createServer, type ViteDevServer } from 'vite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { findChromium } from '../support/chromium.js'
import { waitUntil } from '../support/wait.js'

const executablePath = findChromium()
const STEPS = 10

interface Api {
  ready: boolean
  loadedAt: number
  starts: { runId: string; at: number }[]
  trigger(album: string): Promise<string>
  executions(): Promise<{ run_id: string; step: number; tab: string }[]>
  measure(steps: number): Promise<Record<string, number>>
  durably: {
    getRun(id: string): Promise<{ status: string } | null>
    getSteps(id: string): Promise<{ index: number }[]>
  }
}

declare const window: { durablyExample: Api }

describe.skipIf(!executablePath)('browser example in Chromium', () => {
  let server: ViteDevServer
  let browser: Browser
  let base: string

  beforeAll(async () => {
    server = await createServer({
      configFile: 'examples/browser/vite.config.ts',
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
  })

  async function openPage(context: BrowserContext, db: string): Promise<Page> {
    const page = await context.newPage()
    await page.goto(`${base}?db=${db}`)
    await page.waitForFunction(() => window.durablyExample?.ready === true, undefined, {
      timeout: 30_000,
    })
    return page
  }

  it('a run survives closing its tab, resumes at once when the page comes back, and finishes at 100 %', async () => {
    const context = await browser.newContext()
    const db = `resume-${Date.now()}.sqlite3`
    try {
      const first = await openPage(context, db)
      await first.click('#start')
      const runId = await first.waitForFunction(
        () => document.querySelector<HTMLElement>('.run')?.dataset.runId,
      )
      const id = (await runId.jsonValue()) as string
      await first.waitForFunction(
        () => Number(document.querySelector<HTMLElement>('.run')?.dataset.percent ?? 0) >= 30,
        undefined,
        { timeout: 30_000 },
      )
      const finishedBeforeClose = await first.evaluate(
        async (run) => (await window.durablyExample.durably.getSteps(run)).map((s) => s.index),
        id,
      )
      await first.close()

      const second = await openPage(context, db)
      const resumedAfterMs = await second.evaluate(async (run) => {
        const api = window.durablyExample
        for (;;) {
          const start = api.starts.find((entry) => entry.runId === run)
          if (start) return start.at - api.loadedAt
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      }, id)
      console.log(`[browser] run resumed ${resumedAfterMs.toFixed(0)} ms after the page came back`)
      // The stale threshold is 30 s: resuming well before it means the dead tab was recognised.
      expect(resumedAfterMs).toBeLessThan(5_000)

      await second.waitForFunction(
        (run) =>
          document.querySelector<HTMLElement>(`[data-run-id="${run}"]`)?.dataset.status ===
          'completed',
        id,
        { timeout: 30_000 },
      )
      const percent = await second.evaluate(
        (run) => document.querySelector<HTMLElement>(`[data-run-id="${run}"]`)?.dataset.percent,
        id,
      )
      expect(percent).toBe('100')
      const executions = await second.evaluate(() => window.durablyExample.executions())
      const count = (step: number) =>
        executions.filter((entry) => entry.run_id === id && entry.step === step).length
      for (const step of finishedBeforeClose) expect(count(step)).toBe(1)
      for (let step = 0; step < STEPS; step++) expect(count(step)).toBeGreaterThanOrEqual(1)
    } finally {
      await context.close()
    }
  }, 90_000)

  it('two tabs on one database both work and never execute a run twice', async () => {
    const context = await browser.newContext()
    const db = `tabs-${Date.now()}.sqlite3`
    try {
      const [left, right] = [await openPage(context, db), await openPage(context, db)]
      const ids: string[] = []
      for (let index = 0; index < 4; index++) {
        ids.push(await left.evaluate((n) => window.durablyExample.trigger(`left-${n}`), index))
        ids.push(await right.evaluate((n) => window.durablyExample.trigger(`right-${n}`), index))
      }
      // waitForFunction would take the predicate's promise for a truthy answer: poll instead.
      await waitUntil(
        () =>
          left.evaluate(async (runs) => {
            for (const run of runs) {
              const current = await window.durablyExample.durably.getRun(run)
              if (current?.status !== 'completed') return false
            }
            return true
          }, ids),
        { timeout: 60_000, interval: 200, what: 'every run to complete in two tabs' },
      )
      const executions = await left.evaluate(() => window.durablyExample.executions())
      const perStep = new Map<string, number>()
      for (const entry of executions) {
        const key = `${entry.run_id}/${entry.step}`
        perStep.set(key, (perStep.get(key) ?? 0) + 1)
      }
      expect(perStep.size).toBe(ids.length * STEPS)
      expect([...perStep.values()].every((count) => count === 1)).toBe(true)
      expect(new Set(executions.map((entry) => entry.tab)).size).toBe(2)
    } finally {
      await context.close()
    }
  }, 120_000)

  it('measures steps per second next to raw SQLocal inserts in the same page', async () => {
    const context = await browser.newContext()
    try {
      const page = await openPage(context, `measure-${Date.now()}.sqlite3`)
      const figures = await page.evaluate(() => window.durablyExample.measure(200))
      console.log(`[browser] ${JSON.stringify({ workload: 'browser-steps', ...figures })}`)
      expect(figures.steps).toBe(200)
    } finally {
      await context.close()
    }
  }, 120_000)
})
