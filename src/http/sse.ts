/**
 * Server-sent events: one JSON value per `data:` frame, a keep-alive comment on an interval
 * so proxies keep the connection open, and one cleanup when the stream ends either way. A
 * client that goes away arrives as the stream's `cancel`: that is where listeners are removed.
 */

/** How a frame is labelled: its `id` (a client resumes from it) and its `event` name. */
export interface FrameLabel {
  id?: string
  /** A named event: `EventSource.onmessage` ignores it, `addEventListener(name)` receives it. */
  event?: string
}

export interface EventSink<T> {
  send(event: T, label?: FrameLabel): void
  /** End the stream after the events sent so far. */
  end(): void
}

/** Start producing events; return what undoes it (remove listeners, cancel readers). */
export type EventSource<T> = (sink: EventSink<T>) => () => void

const SSE_HEADERS = {
  // Exactly this value: code written for 0.6.0 compares the header as a string. SSE is UTF-8
  // by definition, so the charset parameter added nothing.
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-transform',
  // Reverse proxies (nginx) buffer responses unless told not to; events would arrive late.
  'x-accel-buffering': 'no',
}

/** What an `EventSource` waits before it reconnects after a stream ended or broke. */
export const RECONNECT_DELAY_MS = 3000

// Ids and names are ours (digits, words): they never hold the CR/LF that would break a frame.
function frameHead({ id, event }: FrameLabel): string {
  return `${event ? `event: ${event}\n` : ''}${id ? `id: ${id}\n` : ''}`
}

export function sseResponse<T>(source: EventSource<T>, keepAliveInterval: number): Response {
  const encoder = new TextEncoder()
  let stop = () => {}
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      let open = true
      let release = () => {}
      const timer = setInterval(() => write(': keep-alive\n\n'), keepAliveInterval)
      const write = (text: string) => {
        if (open) controller.enqueue(encoder.encode(text))
      }
      stop = () => {
        if (!open) return
        open = false
        clearInterval(timer)
        release()
      }
      // A comment first, so the client sees the response start before the first event; and
      // how long a client waits before reconnecting (EventSource's default varies by browser).
      write(`: connected\nretry: ${RECONNECT_DELAY_MS}\n\n`)
      release = source({
        send: (event, label = {}) => write(`${frameHead(label)}data: ${JSON.stringify(event)}\n\n`),
        end: () => {
          if (!open) return
          stop()
          controller.close()
        },
      })
      // The source may have ended synchronously, before `release` was assigned.
      if (!open) release()
    },
    cancel() {
      stop()
    },
  })
  return new Response(body, { status: 200, headers: SSE_HEADERS })
}
