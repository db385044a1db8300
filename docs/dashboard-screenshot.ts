/**
 * Makes docs/dashboard.png, the README's picture of the dashboard: a few runs in every state
 * on a fresh libSQL file, served by the handler, captured in Chromium at 1280 px.
 * Run: npx tsx docs/dashboard-screenshot.ts
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serve } from '@hono/node-server'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { chromium } from 'playwright-core'
import { z } from 'zod'
import { createDurably, createDurablyHandler, defineJob, withLogPersistence } from '../src/index.js'
import { findChromium } from '../tests/support/chromium.js'

let release = () => {}
const held = new Promise<void>((resolve) => {
  release = resolve
})

const importOrders = defineJob({
  name: 'import-orders',
  input: z.object({ month: z.string() }),
  run: async (step, { month }) => {
    for (let page = 1; page <= 5; page++) {
      await step.run(`page-${page}`, async () => {
        if (month === 'november' && page === 4) await held
        return page
      })
      step.progress(page, 5, `imported page ${page} of 5`)
    }
  },
})
const sendInvoice = defineJob({
  name: 'send-invoice',
  input: z.object({ invoiceId: z.string() }),
  run: async (step, { invoiceId }) => {
    await step.run('render', () => invoiceId)
    await step.run('deliver', () => {
      if (invoiceId === 'inv_13') throw new Error('SMTP 421: try again later')
      return 'sent'
    })
  },
})
const digest = defineJob({
  name: 'weekly-digest',
  input: z.object({}),
  run: async (step) => {
    await step.run('collect', () => 12)
    await step.sleep('cool-down', 2 * 3_600_000)
  },
})

const url = `file:${join(mkdtempSync(join(tmpdir(), 'durably-shot-')), 'app.db')}`
const durably = createDurably({ dialect: new LibsqlDialect({ client: createClient({ url }) }) })
  .use(withLogPersistence())
  .register({ importOrders, sendInvoice, digest })
await durably.init()
await durably.sendInvoice.triggerAndWait({ invoiceId: 'inv_12' })
await durably.sendInvoice.triggerAndWait({ invoiceId: 'inv_13' }).catch(() => undefined)
await durably.importOrders.triggerAndWait({ month: 'october' })
const cancelled = await durably.sendInvoice.trigger({ invoiceId: 'inv_14' }, { delay: 60_000 })
await durably.cancel(cancelled.id)
await durably.digest.trigger({})
await durably.sendInvoice.trigger({ invoiceId: 'inv_15' }, { delay: 3 * 3_600_000 })
const running = await durably.importOrders.trigger({ month: 'november' })
const handler = createDurablyHandler(durably, { dashboard: true })
const server = serve({ fetch: (request) => handler.handle(request, '/durably'), port: 0 })
await new Promise((resolve) => server.once('listening', resolve))
const { port } = server.address() as { port: number }
const browser = await chromium.launch({ executablePath: findChromium()!, args: ['--no-sandbox'] })
const page = await browser.newPage({ viewport: { width: 1280, height: 548 }, colorScheme: 'light' })
await page.goto(`http://127.0.0.1:${port}/durably/`)
await page.locator(`tr[data-run-id="${running.id}"] .progress[data-percent="60"]`).waitFor()
await page.locator('tr[data-status="pending"] .wait', { hasText: 'sleeping' }).waitFor()
await page.screenshot({ path: 'docs/dashboard.png' })
await browser.close()
release()
server.close()
await durably.destroy()
