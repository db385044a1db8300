/**
 * What the React hook tests share: jobs whose steps the test releases one at a time, and
 * the HTTP handler on a real loopback socket over a libSQL file. The server records each
 * request it answered (path, headers that matter, status) and can break every open
 * connection or hold new SSE subscriptions back, so reconnection is tested against the
 * handler itself.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { z } from 'zod'
import {
  createDurably,
  createDurablyHandler,
  type DurablyHandlerOptions,
  defineJob,
} from '../../src/index.js'
import { FAST } from '../contract/harness.js'
import { libsqlBackend } from '../support/backends.js'
import { gate } from '../support/wait.js'

export const BASE_PATH = '/api/durably'

/** Lets a job's steps through one at a time, when the test says so. */
export function createPacer() {
  let permits = 0
  const waiting: (() => void)[] = []
  return {
    /** A step waits here for a permit. */
    pass(): Promise<void> {
      if (permits > 0) {
        permits -= 1
        return Promise.resolve()
      }
      return new Promise((resolve) => waiting.push(resolve))
    },
    /** Let `count` steps through (now or when they arrive). */
    release(count = 1) {
      for (let index = 0; index < count; index++) {
        const next = waiting.shift()
        if (next) next()
        else permits += 1
      }
    },
    /** How many steps wait for a permit now. */
    get waiting() {
      return waiting.length
    },
  }
}

export type Pacer = ReturnType<typeof createPacer>

/** The jobs of these tests, as an app's server module would export them for `typeof jobs`. */
export function makeJobs(pacer: Pacer) {
  const report = defineJob({
    name: 'report',
    input: z.object({ parts: z.number().int().positive() }),
    output: z.object({ parts: z.number() }),
    run: async (step, { parts }) => {
      for (let part = 1; part <= parts; part++) {
        await step.run(`part-${part}`, () => pacer.pass())
        step.log.info(`part ${part} done`, { part })
        step.progress(part, parts, `part ${part} of ${parts}`)
      }
      return { parts }
    },
  })
  const greet = defineJob({
    name: 'greet',
    input: z.object({ name: z.string() }),
    output: z.object({ greeting: z.string() }),
    run: async (step, { name }) => ({
      greeting: await step.run('greet', () => `Hello, ${name}!`),
    }),
  })
  const failing = defineJob({
    name: 'failing',
    input: z.object({}),
    run: async (step) => {
      await step.run('boom', () => {
        throw new Error('boom')
      })
    },
  })
  // Waits for the signal "approval" (durably.signal / POST /signal) and returns its data.
  // step.waitForEvent is reached through its shape, so this file compiles before it exists.
  const approval = defineJob({
    name: 'approval',
    input: z.object({}),
    run: async (step) => {
      const waiting = step as unknown as {
        waitForEvent(name: string, options: { event: string }): Promise<unknown>
      }
      return { data: await waiting.waitForEvent('approval', { event: 'approval' }) }
    },
  })
  return { report, greet, failing, approval }
}

export type Jobs = ReturnType<typeof makeJobs>

/** A durably instance on a fresh libSQL file with the test jobs, initialised. */
export async function openDurably() {
  const database = await libsqlBackend.create()
  const pacer = createPacer()
  const durably = createDurably({ ...FAST, dialect: database.dialect }).register(makeJobs(pacer))
  await durably.init()
  return {
    durably,
    pacer,
    async close() {
      pacer.release(1000)
      await durably.destroy()
      await database.cleanup()
    },
  }
}

export interface SeenRequest {
  method: string
  path: string
  search: string
  lastEventId: string | null
  authorization: string | null
  body: string | null
  status: number
}

export async function startHooksServer(options: DurablyHandlerOptions = {}) {
  const opened = await openDurably()
  const handler = createDurablyHandler(opened.durably, { keepAliveInterval: 50, ...options })
  const requests: SeenRequest[] = []
  let held: ReturnType<typeof gate<void>> | undefined

  const server = await new Promise<Server>((resolve) => {
    const started = serve(
      {
        port: 0,
        hostname: '127.0.0.1',
        async fetch(request) {
          const url = new URL(request.url)
          const body = request.method === 'GET' ? null : await request.clone().text()
          if (held && url.pathname.endsWith('/subscribe')) await held.promise
          const response = await handler.handle(request, BASE_PATH)
          requests.push({
            method: request.method,
            path: url.pathname.slice(BASE_PATH.length),
            search: url.search,
            lastEventId: request.headers.get('last-event-id'),
            authorization: request.headers.get('authorization'),
            body,
            status: response.status,
          })
          return response
        },
      },
      () => resolve(started as Server),
    )
  })
  const { port } = server.address() as AddressInfo

  return {
    ...opened,
    api: `http://127.0.0.1:${port}${BASE_PATH}`,
    requests,
    /** Requests answered so far on one path (`/subscribe`, `/runs`, …). */
    requestsTo: (path: string) => requests.filter((request) => request.path === path),
    /** Break every open connection, as a restarting proxy would; the server goes on listening. */
    dropConnections: () => server.closeAllConnections(),
    /** Keep new SSE subscriptions waiting until the returned function is called. */
    holdSubscriptions(): () => void {
      const current = gate<void>()
      held = current
      return () => {
        held = undefined
        current.open()
      }
    },
    async close() {
      held?.open()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await opened.close()
    },
  }
}

export type HooksServer = Awaited<ReturnType<typeof startHooksServer>>
