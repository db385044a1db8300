/**
 * The hooks over the HTTP handler (`createDurablyHandler`): JSON routes through `fetch`, the
 * two SSE routes through `sse.ts`. Nothing here runs until a hook asks, so a module that
 * creates the hooks can be imported where there is no network and no `window` (SSR).
 */
import type { DurablyEvent, Run, RunFilter } from '../index.js'
import { DurablyClientError, isErrorCode } from './errors.js'
import { isTerminalEventType, isTerminalStatus } from './run-view.js'
import { openEventStream, type ReconnectOptions, type SseFrame } from './sse.js'
import type { RunSink, RunsSink, Transport } from './transport.js'

export interface HttpHooksOptions {
  /** Where the handler is mounted: the `basePath` given to `handler.handle` (`'/api/durably'`). */
  api: string
  /** Sent with every request, SSE included: a token, say. A function is asked each time. */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>)
  /** The `fetch` to use (default: the global one, looked up when a request is made). */
  fetch?: typeof fetch
  /** How the SSE streams reconnect; the server's `retry:` is the first wait. */
  reconnect?: ReconnectOptions
}

export function httpTransport(options: HttpHooksOptions): Transport {
  const base = options.api.replace(/\/+$/, '')
  const doFetch: typeof fetch = (input, init) => (options.fetch ?? globalThis.fetch)(input, init)
  const url = (path: string, query: Record<string, string | number | undefined> = {}) => {
    const params = new URLSearchParams()
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) params.set(key, String(value))
    }
    const search = params.toString()
    return `${base}${path}${search ? `?${search}` : ''}`
  }
  const headers = async (): Promise<Headers> => {
    const given = typeof options.headers === 'function' ? await options.headers() : options.headers
    return new Headers(given)
  }

  const request = async (method: string, target: string, body?: unknown): Promise<unknown> => {
    let response: Response
    try {
      const init: RequestInit = { method, headers: await headers() }
      if (body !== undefined) {
        ;(init.headers as Headers).set('content-type', 'application/json')
        init.body = JSON.stringify(body)
      }
      response = await doFetch(target, init)
    } catch (error) {
      // The network failed, or the headers option or the body could not be made.
      throw new DurablyClientError(`${method} ${target} failed: ${messageOf(error)}`, {
        cause: error,
      })
    }
    if (!response.ok) throw await refusal(response)
    try {
      const text = await response.text()
      return text === '' ? undefined : JSON.parse(text)
    } catch (error) {
      throw new DurablyClientError(`${method} ${target} answered no JSON: ${messageOf(error)}`, {
        status: response.status,
        cause: error,
      })
    }
  }

  const runAction = (method: string, path: string) => async (runId: string) => {
    await request(method, url(path, { runId }))
  }

  return {
    async trigger(jobName, input, trigger) {
      const { runAt, ...rest } = trigger
      const body = {
        jobName,
        input,
        ...rest,
        ...(runAt !== undefined
          ? { runAt: runAt instanceof Date ? runAt.toISOString() : runAt }
          : {}),
      }
      const answer = (await request('POST', url('/trigger'), body)) as { runId: string }
      return answer.runId
    },

    async getRun(runId) {
      try {
        return (await request('GET', url('/run', { runId }))) as Run
      } catch (error) {
        if (error instanceof DurablyClientError && error.status === 404) return null
        throw error
      }
    },

    async getRuns(filter: RunFilter) {
      return (await request('GET', url('/runs', { ...filter }))) as Run[]
    },

    retry: runAction('POST', '/retry'),
    cancel: runAction('POST', '/cancel'),
    deleteRun: runAction('DELETE', '/run'),

    async signal(runId, name, data, { id }) {
      await request('POST', url('/signal', { runId }), {
        name,
        data,
        ...(id !== undefined ? { id } : {}),
      })
    },

    followRun(runId: string, sink: RunSink) {
      let settled = false
      let stopped = false
      const stop = openEventStream({
        url: url('/subscribe', { runId }),
        fetch: doFetch,
        headers,
        reconnect: options.reconnect ?? {},
        onOpen() {},
        onFrame(frame) {
          const data = parse(frame)
          if (frame.event === 'snapshot') {
            const run = data as Run
            settled = isTerminalStatus(run.status)
            return sink.snapshot(run)
          }
          if (isStreamError(data))
            return fail(new DurablyClientError(data.error, { status: data.status }))
          const event = data as DurablyEvent
          if (isTerminalEventType(event.type)) settled = true
          if (event.type === 'run:retry') settled = false
          sink.event(event)
        },
        async onRefused(response) {
          const error = await refusal(response)
          // The server's own trouble passes; a refusal of this request would be repeated.
          if (error.status !== null && error.status >= 500) return true
          fail(error)
          return false
        },
        // The run settled while the stream was down: read how it ended.
        onNoContent() {
          request('GET', url('/run', { runId })).then(
            (run) => {
              if (!stopped) sink.snapshot(run as Run)
            },
            (error: DurablyClientError) => {
              if (!stopped) sink.error(error)
            },
          )
        },
        // A stream ends after the run's terminal event; otherwise the server went away.
        onEnd: () => !settled,
      })
      const fail = (error: DurablyClientError) => {
        stop()
        if (!stopped) sink.error(error)
      }
      return () => {
        stopped = true
        stop()
      }
    },

    followRuns(jobName: string | undefined, sink: RunsSink) {
      const stop = openEventStream({
        url: url('/runs/subscribe', { jobName }),
        fetch: doFetch,
        headers,
        reconnect: options.reconnect ?? {},
        onOpen: () => sink.open(),
        onFrame(frame) {
          const data = parse(frame)
          if (isStreamError(data)) {
            stop()
            return sink.error(new DurablyClientError(data.error, { status: data.status }))
          }
          sink.event(data as DurablyEvent)
        },
        async onRefused(response) {
          const error = await refusal(response)
          if (error.status !== null && error.status >= 500) return true
          sink.error(error)
          return false
        },
        onNoContent() {},
        // The run list never ends by itself: an end is a server going away.
        onEnd: () => true,
      })
      return stop
    },
  }
}

function parse(frame: SseFrame): unknown {
  return JSON.parse(frame.data)
}

/** The last event of a stream the server refused or could not go on with. */
function isStreamError(data: unknown): data is { error: string; status: number } {
  return (
    typeof data === 'object' &&
    data !== null &&
    !('type' in data) &&
    typeof (data as { error?: unknown }).error === 'string' &&
    typeof (data as { status?: unknown }).status === 'number'
  )
}

/** A non-2xx answer as an error: the handler's `{ error, issues? }` body when it sent one. */
async function refusal(response: Response): Promise<DurablyClientError> {
  let body: { error?: unknown; issues?: unknown; code?: unknown } = {}
  try {
    body = (await response.json()) as typeof body
  } catch {
    // Not JSON (a proxy's page, an authorize Response): the status says enough.
  }
  const message =
    typeof body.error === 'string' && body.error !== ''
      ? body.error
      : `${response.status} ${response.statusText}`.trim()
  return new DurablyClientError(message, {
    status: response.status,
    code: isErrorCode(body.code) ? body.code : null,
    ...(Array.isArray(body.issues) ? { issues: body.issues } : {}),
  })
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}
