/**
 * `durably dashboard`: the handler's dashboard on 127.0.0.1, over `node:http`, for a database
 * whose jobs run in another process. Two things differ from serving it inside the app:
 * - there are no jobs here, so the dashboard lists runs and can retry, cancel and delete
 *   them (a retried run goes back to the queue for the app's own workers), but not trigger;
 * - the runs change in other processes, whose events never reach this one. A change feed
 *   reads the runs updated since its last look, once a second, and emits their run-level
 *   events here, so the page's SSE streams stay live without the page polling.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { createDurablyHandler, type Durably, type Run } from '../index.js'

const FEED_INTERVAL_MS = 1000
/** Changed runs read per look; a busier database is caught up over the next looks. */
const FEED_BATCH = 200

export interface DashboardServer {
  url: string
  close(): Promise<void>
}

export async function serveDashboard(durably: Durably, port: number): Promise<DashboardServer> {
  const handler = createDurablyHandler(durably, { dashboard: true })
  const server = createServer((req, res) => {
    void answer(req, res, (request) => handler.handle(request, '')).catch(() => {
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, '127.0.0.1', () => resolve())
  })
  const stopFeed = changeFeed(durably)
  const { port: bound } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${bound}/`,
    async close() {
      stopFeed()
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

/** node:http → fetch Request → Response → node:http, streaming (SSE) bodies as they come. */
async function answer(
  req: IncomingMessage,
  res: ServerResponse,
  fetch: (request: Request) => Promise<Response>,
): Promise<void> {
  const controller = new AbortController()
  res.on('close', () => controller.abort())
  const headers = new Headers()
  for (const [name, value] of Object.entries(req.headers)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else if (value !== undefined) headers.set(name, value)
  }
  const hasBody = req.method !== 'GET' && req.method !== 'HEAD'
  const request = new Request(`http://127.0.0.1${req.url ?? '/'}`, {
    method: req.method ?? 'GET',
    headers,
    signal: controller.signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: 'half' } : {}),
  } as RequestInit)
  const response = await fetch(request)
  res.writeHead(response.status, Object.fromEntries(response.headers))
  if (!response.body) {
    res.end()
    return
  }
  const reader = response.body.getReader()
  controller.signal.addEventListener('abort', () => void reader.cancel().catch(() => undefined))
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    res.write(value)
  }
  res.end()
}

/**
 * Emit, in this process, the run-level events of runs changed by others: one indexed read of
 * the ids updated since the last look, then each changed run read through `getRun`.
 */
function changeFeed(durably: Durably): () => void {
  const known = new Map<string, { status: Run['status']; updatedAt: string }>()
  let since = new Date().toISOString()
  let busy = false
  const look = async () => {
    if (busy) return
    busy = true
    try {
      const changed = await durably.db
        .selectFrom('durably_runs')
        .select(['id', 'updated_at'])
        .where('updated_at', '>=', since)
        .orderBy('updated_at')
        .limit(FEED_BATCH)
        .execute()
      for (const row of changed) {
        const updatedAt = new Date(row.updated_at).toISOString()
        if (known.get(row.id)?.updatedAt === updatedAt) continue
        const run = await durably.getRun(row.id)
        if (run) announce(durably, run, known.get(run.id)?.status)
        if (run) known.set(run.id, { status: run.status, updatedAt })
        if (updatedAt > since) since = updatedAt
      }
      if (known.size > 10_000) known.clear()
    } catch {
      // The next look tries again; the dashboard's reads report their own failures.
    } finally {
      busy = false
    }
  }
  const timer = setInterval(() => void look(), FEED_INTERVAL_MS)
  return () => clearInterval(timer)
}

function announce(durably: Durably, run: Run, before: Run['status'] | undefined): void {
  const base = { runId: run.id, jobName: run.jobName }
  switch (run.status) {
    case 'pending':
      if (before === 'failed' || before === 'cancelled')
        durably.emit({ type: 'run:retry', ...base })
      else if (run.waitingFor)
        durably.emit({ type: 'run:wait', ...base, waitingFor: run.waitingFor })
      // The feed does not carry payloads (they may be megabytes); readers fetch the run.
      else durably.emit({ type: 'run:trigger', ...base, payload: null })
      return
    case 'running':
      if (before === 'running' && run.progress)
        durably.emit({ type: 'run:progress', ...base, progress: run.progress })
      else durably.emit({ type: 'run:start', ...base, payload: null })
      return
    case 'completed': {
      const duration =
        run.startedAt && run.completedAt
          ? new Date(run.completedAt).getTime() - new Date(run.startedAt).getTime()
          : 0
      durably.emit({ type: 'run:complete', ...base, output: run.output, duration })
      return
    }
    case 'failed':
      durably.emit({ type: 'run:fail', ...base, error: run.error ?? 'failed' })
      return
    case 'cancelled':
      durably.emit({ type: 'run:cancel', ...base })
      return
  }
}
