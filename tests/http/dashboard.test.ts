/**
 * The dashboard's routes on a real socket: the page at `<base>/`, `GET /jobs`, and the
 * `preview` form of `/runs` and `/run`. Off by default; under `authorize` like every route.
 */
import { afterEach, describe, expect, it } from 'vitest'
import { z } from 'zod'
import {
  createDurably,
  createDurablyHandler,
  type DurablyHandlerOptions,
  defineJob,
} from '../../src/index.js'
import { FAST } from '../contract/harness.js'
import { libsqlBackend } from '../support/backends.js'
import { waitUntil } from '../support/wait.js'
import { BASE_PATH, startServer, type TestServer } from './server.js'

let server: TestServer | undefined

afterEach(async () => {
  await server?.close()
  server = undefined
})

async function start(options: DurablyHandlerOptions = {}): Promise<TestServer> {
  server = await startServer(options)
  return server
}

describe('the dashboard page', () => {
  it('is not served unless the dashboard option is on', async () => {
    const { url } = await start()
    expect((await fetch(`${url}/`)).status).toBe(404)
    expect((await fetch(`${url}/jobs`)).status).toBe(404)
  })

  it('is one HTML document whose script and style run only under its CSP nonce', async () => {
    const { url } = await start({ dashboard: true })
    const response = await fetch(`${url}/`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
    const csp = response.headers.get('content-security-policy') ?? ''
    const nonce = /script-src 'nonce-([^']+)'/.exec(csp)?.[1]
    expect(nonce).toBeTruthy()
    expect(csp).toContain("connect-src 'self'")
    const html = await response.text()
    expect(html).toContain(`<script nonce="${nonce}">`)
    expect(html).toContain(`<style nonce="${nonce}">`)
    // Self-contained: nothing is loaded from elsewhere.
    expect(html).not.toMatch(/(src|href)="(?!data:|#)|https?:\/\//)
  })

  it('gets a new nonce on every load', async () => {
    const { url } = await start({ dashboard: true })
    const nonceOf = async () =>
      (await fetch(`${url}/`)).headers.get('content-security-policy')?.match(/nonce-([^']+)/)?.[1]
    expect(await nonceOf()).not.toBe(await nonceOf())
  })

  it('sends the base path without its slash to the page', async () => {
    const { url } = await start({ dashboard: true })
    const response = await fetch(url, { redirect: 'manual' })
    expect(response.status).toBe(308)
    expect(response.headers.get('location')).toBe(`${BASE_PATH}/`)
  })

  it('asks authorize, with the action "dashboard"', async () => {
    const actions: string[] = []
    const { url } = await start({
      dashboard: true,
      authorize: (_request, context) => {
        actions.push(context.action)
        return context.action !== 'dashboard'
      },
    })
    expect((await fetch(`${url}/`)).status).toBe(403)
    expect(actions).toEqual(['dashboard'])
  })
})

describe('GET /jobs', () => {
  it('describes each registered job once, whether it may be triggered, and its schedule', async () => {
    const { url } = await start({ dashboard: true, triggerableJobs: ['echo'] })
    const jobs = (await (await fetch(`${url}/jobs`)).json()) as {
      name: string
      triggerable: boolean
      schedule: unknown
    }[]
    expect(jobs.map((job) => [job.name, job.triggerable, job.schedule])).toEqual([
      ['echo', true, null],
      ['gated', false, null],
      ['failing', false, null],
    ])
  })

  it("gives a schedule's next ticks", async () => {
    const database = await libsqlBackend.create()
    const durably = createDurably({ ...FAST, dialect: database.dialect }).register({
      nightly: defineJob({
        name: 'nightly',
        input: z.object({}),
        schedule: { cron: '0 3 * * *', timezone: 'Europe/Berlin' },
        run: async () => null,
      }),
    })
    try {
      const handler = createDurablyHandler(durably, { dashboard: true })
      const response = await handler.jobs(new Request('http://localhost/jobs'))
      const [job] = (await response.json()) as {
        schedule: { cron: string; timezone: string; upcoming: string[] }
      }[]
      expect(job!.schedule.cron).toBe('0 3 * * *')
      expect(job!.schedule.timezone).toBe('Europe/Berlin')
      expect(job!.schedule.upcoming).toHaveLength(5)
      expect(new Date(job!.schedule.upcoming[0]!).getTime()).toBeGreaterThan(Date.now())
    } finally {
      await durably.destroy()
      await database.cleanup()
    }
  })

  it("gives a registered job's input as JSON Schema, from its zod schema", async () => {
    const database = await libsqlBackend.create()
    const input = z.object({ email: z.email(), count: z.number().int().default(1) })
    const durably = createDurably({ ...FAST, dialect: database.dialect }).register({
      signUp: defineJob({ name: 'sign-up', input, run: async () => null }),
    })
    try {
      const handler = createDurablyHandler(durably, { dashboard: true })
      const response = await handler.jobs(new Request('http://localhost/jobs'))
      const [job] = (await response.json()) as { inputSchema: Record<string, unknown> }[]
      expect(job!.inputSchema).toMatchObject({
        type: 'object',
        properties: {
          email: { type: 'string', format: 'email' },
          count: { type: 'integer', default: 1 },
        },
        required: ['email'],
      })
    } finally {
      await durably.destroy()
      await database.cleanup()
    }
  })
})

describe('preview', () => {
  it('cuts payload and output in /runs and /run, and says how long they are', async () => {
    const { url, durably } = await start({ dashboard: true })
    const value = 'y'.repeat(10_000)
    const run = await durably.echo.trigger({ value })
    await waitUntil(async () => (await durably.getRun(run.id))?.status === 'completed')
    const [listed] = (await (await fetch(`${url}/runs?preview=50`)).json()) as {
      payload: string
      payloadLength: number
      output: string
      outputLength: number
    }[]
    const full = JSON.stringify({ value })
    expect(listed!.payload).toBe(`${full.slice(0, 50)}…`)
    expect(listed!.payloadLength).toBe(full.length)
    expect(listed!.output).toBe(`${JSON.stringify({ echoed: value }).slice(0, 50)}…`)
    const one = (await (await fetch(`${url}/run?runId=${run.id}&preview=50`)).json()) as {
      payload: string
    }
    expect(one.payload).toBe(listed!.payload)
    const whole = (await (await fetch(`${url}/run?runId=${run.id}`)).json()) as {
      payload: unknown
    }
    expect(whole.payload).toEqual({ value })
  })

  it('keeps a short value whole, as its JSON text', async () => {
    const { url, durably } = await start({ dashboard: true })
    await durably.echo.trigger({ value: 'hi' }, { delay: 60_000 })
    const [listed] = (await (await fetch(`${url}/runs?preview=50`)).json()) as {
      payload: string
      output: null
    }[]
    expect(listed!.payload).toBe('{"value":"hi"}')
    expect(listed!.output).toBeNull()
  })

  it('refuses a preview that is not a whole number', async () => {
    const { url } = await start({ dashboard: true })
    const response = await fetch(`${url}/runs?preview=lots`)
    expect(response.status).toBe(400)
  })
})
