/**
 * Server-sent events over `fetch` and a ReadableStream rather than `EventSource`: it runs in
 * Node as in a page, and it sends the caller's headers (an `Authorization`, say), which an
 * `EventSource` cannot. Like an `EventSource` it parses frames (`event`, `data`, `id`,
 * `retry`), reconnects after a broken or ended stream with `Last-Event-ID`, honours the
 * server's `retry:` and stops on 204. Unlike one, it backs off: each failed attempt in a
 * row doubles the wait, up to a cap.
 */

export interface SseFrame {
  /** `message` unless the frame named another event. */
  event: string
  data: string
  id: string | undefined
}

export interface ReconnectOptions {
  /** The first wait when the server states no `retry:`. Default 1000 ms. */
  initialDelay?: number
  /** No wait is longer than this, whatever the server's `retry:` says. Default 30000 ms. */
  maxDelay?: number
}

export interface StreamOptions {
  url: string
  fetch: typeof fetch
  headers: () => Promise<Headers>
  reconnect: ReconnectOptions
  /** The stream is connected (first time or again). */
  onOpen(): void
  onFrame(frame: SseFrame): void
  /**
   * The server refused (a status other than 200 and 204) or the response is no event stream.
   * Return true to try again after the backoff (a 5xx, say), false to stop.
   */
  onRefused(response: Response): Promise<boolean>
  /** The server answered 204: it has nothing more to send; the stream stops. */
  onNoContent(): void
  /** The stream ended without breaking: return whether to connect again. */
  onEnd(): boolean
}

/**
 * How long to wait before reconnection attempt `attempt` (0 for the first after a working
 * stream): the server's `retry:` (or `initialDelay`), doubled per failed attempt, capped.
 * `random` spreads clients that lost the same server apart (±20 %).
 */
export function reconnectDelay(
  attempt: number,
  serverRetry: number | undefined,
  options: ReconnectOptions,
  random: () => number = Math.random,
): number {
  const base = serverRetry ?? options.initialDelay ?? 1000
  const max = options.maxDelay ?? 30_000
  const delay = Math.min(max, base * 2 ** Math.min(attempt, 16))
  return Math.round(delay * (0.8 + 0.4 * random()))
}

/** Open the stream; returns what closes it (idempotent). Nothing happens after closing. */
export function openEventStream(options: StreamOptions): () => void {
  const controller = new AbortController()
  let lastEventId: string | undefined
  let serverRetry: number | undefined
  let timer: ReturnType<typeof setTimeout> | undefined
  let wake: (() => void) | undefined

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      wake = resolve
      timer = setTimeout(resolve, ms)
    })

  // Once connected, read frames until the stream ends; true if it delivered any.
  const read = async (body: ReadableStream<Uint8Array>): Promise<boolean> => {
    const reader = body.getReader()
    const decoder = new TextDecoder()
    let buffer = ''
    let received = false
    let frame: { event?: string; data: string[]; id?: string } = { data: [] }
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) return received
        buffer += decoder.decode(value, { stream: true })
        const lines = buffer.split(/\r\n|\r|\n/)
        buffer = lines.pop() ?? ''
        for (const line of lines) {
          if (line === '') {
            // A blank line dispatches the frame; one without data is only a comment or retry.
            if (frame.id !== undefined) lastEventId = frame.id
            if (frame.data.length > 0) {
              received = true
              options.onFrame({
                event: frame.event ?? 'message',
                data: frame.data.join('\n'),
                id: frame.id,
              })
            }
            frame = { data: [] }
            continue
          }
          if (line.startsWith(':')) continue
          const colon = line.indexOf(':')
          const field = colon === -1 ? line : line.slice(0, colon)
          let text = colon === -1 ? '' : line.slice(colon + 1)
          if (text.startsWith(' ')) text = text.slice(1)
          if (field === 'data') frame.data.push(text)
          else if (field === 'event') frame.event = text
          else if (field === 'id' && !text.includes('\0')) frame.id = text
          else if (field === 'retry' && /^\d+$/.test(text)) serverRetry = Number(text)
        }
        if (controller.signal.aborted) return received
      }
    } finally {
      reader.releaseLock()
    }
  }

  const run = async () => {
    let attempt = 0
    while (!controller.signal.aborted) {
      let again = true
      try {
        const headers = await options.headers()
        headers.set('accept', 'text/event-stream')
        if (lastEventId !== undefined) headers.set('last-event-id', lastEventId)
        const response = await options.fetch(options.url, {
          headers,
          signal: controller.signal,
          cache: 'no-store',
        })
        if (response.status === 204) {
          await response.body?.cancel()
          if (!controller.signal.aborted) options.onNoContent()
          return
        }
        const type = response.headers.get('content-type') ?? ''
        if (response.status !== 200 || !response.body || !type.startsWith('text/event-stream')) {
          again = await options.onRefused(response)
        } else {
          options.onOpen()
          // A stream that delivered events was a working connection: start the backoff over.
          if (await read(response.body)) attempt = 0
          if (!controller.signal.aborted) again = options.onEnd()
        }
      } catch {
        // The network failed or the stream broke: reconnect, as an EventSource would.
      }
      if (controller.signal.aborted || !again) return
      await wait(reconnectDelay(attempt, serverRetry, options.reconnect))
      attempt += 1
    }
  }

  void run()
  return () => {
    controller.abort()
    clearTimeout(timer)
    wake?.()
  }
}
