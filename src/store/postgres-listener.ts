/**
 * Cross-process wake-ups on PostgreSQL: one pooled connection kept in `LISTEN` on the channel
 * the database notifies when work appears (see `postgresFamily.extraSchema`). Polling stays
 * the fallback: a lost connection is replaced after a pause, and every (re)connect wakes the
 * worker once, since notifications sent while nobody listened are gone.
 *
 * The pool is described by shape, not by importing `pg`, so the core never depends on it.
 */
import { type BackoffPolicy, backoffDelay } from '../retry.js'
import { WORK_CHANNEL } from './postgres-family.js'

/** The part of a `pg` client that listening needs. */
export interface ListenClient {
  query(text: string): Promise<unknown>
  on(event: 'notification', listener: (message: { channel: string }) => void): unknown
  on(event: 'error', listener: (error: Error) => void): unknown
  removeListener(event: 'notification', listener: (message: { channel: string }) => void): unknown
  removeListener(event: 'error', listener: (error: Error) => void): unknown
  release(destroy?: boolean | Error): void
  /** `pg` keeps it false while a statement sent on the connection awaits its answer. */
  readonly readyForQuery?: boolean
  end(): Promise<void>
}

/** The part of a `pg` Pool that listening needs: `new pg.Pool(...)` fits. */
export interface ListenPool {
  connect(): Promise<ListenClient>
  on(event: 'connect', listener: (client: ListenClient) => void): unknown
  on(event: 'release', listener: (error: Error | undefined, client: ListenClient) => void): unknown
}

/**
 * `pg` emits a lost connection as an 'error' event on the client as well as rejecting the
 * query that was running on it; the pool listens only while a client is idle, so a client
 * busy with a statement when the server drops it would crash the process with an unhandled
 * 'error'. Every client of the pool gets a listener: the failed statement still reports the
 * error, which is where durably handles it.
 */
export function guardPoolConnections(pool: ListenPool): void {
  pool.on('connect', (client) => {
    client.on('error', ignoreReportedElsewhere)
  })
  pool.on('release', discardIfStillWaiting)
}

/**
 * A statement that `query_timeout` gave up on is still the connection's active query in
 * `pg`: the client goes back to the pool (Kysely releases it without an error) and every
 * later statement on it queues behind an answer that, over a dead socket, never comes. Such a
 * client is ended as it is released (ending it sets the flag the pool checks next), so the
 * pool opens a fresh connection instead of handing the dead one out again.
 */
function discardIfStillWaiting(error: Error | undefined, client: ListenClient): void {
  if (error || client.readyForQuery !== false) return
  client.end().catch(ignoreReportedElsewhere)
}

function ignoreReportedElsewhere(): void {}

export interface WorkListener {
  close(): Promise<void>
}

export interface ListenHooks {
  onWork(): void
  onError(error: unknown): void
  /** Pauses before listening again after the connection was lost, failure after failure. */
  retry: BackoffPolicy
  /**
   * How often the listening connection is asked a trivial question, and how long it has to
   * answer (ms). A partition kills an idle connection without a word: keep-alive would take
   * minutes to notice, and every notification until then is lost.
   */
  probe: { every: number; within: number }
}

export function listenForWork(pool: ListenPool, hooks: ListenHooks): WorkListener {
  let closed = false
  let client: ListenClient | undefined
  let detach = () => {}
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let connecting: Promise<void> | undefined
  let failures = 0
  let probing = false
  // A client dropped by the probe while its LISTEN still hung is given back once only: the
  // LISTEN failing afterwards must not release it again (`pg` throws on a second release).
  const givenBack = new WeakSet<ListenClient>()
  const giveBack = (returned: ListenClient, destroy?: boolean | Error) => {
    if (givenBack.has(returned)) return
    givenBack.add(returned)
    returned.release(destroy)
  }

  const retryLater = () => {
    if (closed || retryTimer) return
    failures += 1
    retryTimer = setTimeout(
      () => {
        retryTimer = undefined
        connecting = connect()
      },
      backoffDelay(hooks.retry, failures),
    )
  }

  const drop = (lost: ListenClient, error: unknown) => {
    if (client !== lost) return
    client = undefined
    detach()
    giveBack(lost, error instanceof Error ? error : true)
    if (closed) return
    hooks.onError(error)
    retryLater()
  }

  async function connect(): Promise<void> {
    let acquired: ListenClient | undefined
    try {
      acquired = await pool.connect()
      if (closed) {
        acquired.release()
        return
      }
      const current = acquired
      const onError = (error: Error) => drop(current, error)
      const onNotification = (message: { channel: string }) => {
        if (message.channel === WORK_CHANNEL) hooks.onWork()
      }
      current.on('error', onError)
      current.on('notification', onNotification)
      // A released client goes back to the pool: it must not keep our listeners.
      detach = () => {
        current.removeListener('error', onError)
        current.removeListener('notification', onNotification)
      }
      client = current
      await current.query(`LISTEN ${WORK_CHANNEL}`)
      failures = 0
      hooks.onWork()
    } catch (error) {
      if (acquired && client === acquired) drop(acquired, error)
      else if (acquired && givenBack.has(acquired))
        return // dropped, and reported, already
      else if (!closed) {
        if (acquired) giveBack(acquired, true)
        hooks.onError(error)
        retryLater()
      }
    }
  }

  async function probe(): Promise<void> {
    const current = client
    if (closed || probing || !current) return
    probing = true
    const silent = setTimeout(
      () =>
        drop(
          current,
          new Error(`the listening connection did not answer within ${hooks.probe.within} ms`),
        ),
      hooks.probe.within,
    )
    try {
      await current.query('SELECT 1')
    } catch (error) {
      drop(current, error)
    } finally {
      clearTimeout(silent)
      probing = false
    }
  }

  connecting = connect()
  const probeTimer = setInterval(() => void probe(), hooks.probe.every)

  return {
    async close() {
      closed = true
      clearInterval(probeTimer)
      if (retryTimer) clearTimeout(retryTimer)
      retryTimer = undefined
      await connecting
      const current = client
      client = undefined
      if (!current) return
      try {
        await current.query(`UNLISTEN ${WORK_CHANNEL}`)
        detach()
        current.release()
      } catch (error) {
        detach()
        current.release(error instanceof Error ? error : true)
      }
    },
  }
}
