/**
 * A durably instance behind its HTTP handler on a real loopback socket, served either by
 * `node:http` through @hono/node-server or by a Hono app mounted the way the README says.
 */
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { z } from 'zod'
import {
  createDurably,
  createDurablyHandler,
  type DurablyHandlerOptions,
  defineJob,
  withLogPersistence,
} from '../../src/index.js'
import { FAST } from '../contract/harness.js'
import { libsqlBackend } from '../support/backends.js'
import { gate } from '../support/wait.js'

export const BASE_PATH = '/api/durably'

export const echoJob = defineJob({
  name: 'echo',
  input: z.object({ value: z.string() }),
  output: z.object({ echoed: z.string() }),
  run: async (step, { value }) => {
    step.log.info('echoing', { value })
    const echoed = await step.run('echo', () => value)
    step.progress(1, 1)
    return { echoed }
  },
})

export function gatedJob() {
  const held = gate()
  const entered = gate()
  const job = defineJob({
    name: 'gated',
    input: z.object({}),
    run: async (step) => {
      await step.run('wait', async () => {
        entered.open()
        await held.promise
        return 'released'
      })
      return null
    },
  })
  return { job, held, entered }
}

export const failingJob = defineJob({
  name: 'failing',
  input: z.object({}),
  run: async (step) => {
    await step.run('boom', () => {
      throw new Error('boom')
    })
  },
})

export interface TestServer {
  url: string
  durably: ReturnType<typeof makeDurably>
  gated: ReturnType<typeof gatedJob>
  close(): Promise<void>
}

function makeDurably(
  dialect: Parameters<typeof createDurably>[0]['dialect'],
  gated: ReturnType<typeof gatedJob>,
) {
  return createDurably({ ...FAST, dialect })
    .use(withLogPersistence())
    .register({ echo: echoJob, gated: gated.job, failing: failingJob })
}

export async function startServer(
  options: DurablyHandlerOptions & {
    via?: 'node' | 'hono'
    /** Leave `init()` to the handler's `onRequest`, as 0.6.0 apps did. */
    lazy?: boolean
    /** Called with the instance before the handler exists (e.g. to wire `onRequest` to it). */
    setup?: (durably: ReturnType<typeof makeDurably>) => DurablyHandlerOptions
  } = {},
): Promise<TestServer> {
  const database = await libsqlBackend.create()
  const gated = gatedJob()
  const durably = makeDurably(database.dialect, gated)
  const { via, lazy, setup, ...handlerOptions } = options
  if (!lazy) await durably.init()
  const handler = createDurablyHandler(durably, {
    keepAliveInterval: 50,
    ...handlerOptions,
    ...setup?.(durably),
  })
  const fetch =
    via === 'hono'
      ? new Hono().all(`${BASE_PATH}/*`, (c) => handler.handle(c.req.raw, BASE_PATH)).fetch
      : (request: Request) => handler.handle(request, BASE_PATH)
  const listening = await listen(fetch)
  return {
    url: `${listening.origin}${BASE_PATH}`,
    durably,
    gated,
    async close() {
      gated.held.open()
      await listening.close()
      await durably.destroy()
      await database.cleanup()
    },
  }
}

/** Serve `fetch` on a free loopback port. */
export async function listen(
  fetch: (request: Request) => Response | Promise<Response>,
): Promise<{ origin: string; close(): Promise<void> }> {
  const server = await new Promise<Server>((resolve) => {
    const started = serve({ fetch, port: 0, hostname: '127.0.0.1' }, () =>
      resolve(started as Server),
    )
  })
  const { port } = server.address() as AddressInfo
  return {
    origin: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

export interface SseFrame {
  event?: string
  id?: string
  retry?: number
  data?: unknown
}

/** Read an SSE response's frames until the stream ends: fields parsed, data as JSON. */
export async function readFrames(response: Response): Promise<SseFrame[]> {
  const parsed: SseFrame[] = []
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    buffer += value
    const frames = buffer.split('\n\n')
    buffer = frames.pop() ?? ''
    for (const frame of frames) {
      const fields: SseFrame = {}
      for (const line of frame.split('\n')) {
        if (line.startsWith('data: ')) fields.data = JSON.parse(line.slice(6))
        else if (line.startsWith('event: ')) fields.event = line.slice(7)
        else if (line.startsWith('id: ')) fields.id = line.slice(4)
        else if (line.startsWith('retry: ')) fields.retry = Number(line.slice(7))
      }
      if (Object.keys(fields).length > 0) parsed.push(fields)
    }
  }
  return parsed
}

/** What `EventSource.onmessage` receives: the data of unnamed events, in order. */
export async function readEvents(response: Response): Promise<unknown[]> {
  return (await readFrames(response))
    .filter((frame) => frame.event === undefined && 'data' in frame)
    .map((frame) => frame.data)
}
