/**
 * Cross-process wake-ups on PostgreSQL at the defaults, when durably has no pool of its own
 * to keep a connection out of (`listen: pool` does that: postgres-listener.ts).
 *
 * `LISTEN` belongs to a session, not to a checked-out client: once one of the dialect's own
 * pooled connections has run it, the server notifies that connection for as long as it lives,
 * whether the pool lends it out or keeps it idle. So durably sends `LISTEN` through Kysely as
 * a `pg` query object (a "submittable", as pg-cursor is), which `pg` hands the connection it
 * runs on; durably listens to that connection's notifications and lets the client go back to
 * the pool. Holding the client checked out instead would take away the pool's idle `error`
 * listener, and a server dropping it would crash the process with an unhandled 'error'.
 *
 * The pool may end that connection (its idle timeout, `maxUses`, the server going away): its
 * 'end' makes durably listen again on another, and every (re)listen wakes the worker once,
 * since notifications sent while nobody listened are gone. Polling stays the fallback; a pool
 * whose client cannot take a query object (not `pg`'s) simply polls.
 *
 * On stopping, durably stops hearing the connection but does not `UNLISTEN`: it cannot choose
 * which pooled connection a statement runs on. The session keeps listening until the pool
 * ends it, and `pg` drops what it hears.
 */
import { CompiledQuery, type Kysely } from 'kysely'
import { backoffDelay } from '../retry.js'
import { WORK_CHANNEL } from './postgres-family.js'
import type { ListenHooks, WorkListener } from './postgres-listener.js'
import type { Database } from './schema.js'

/** The part of `pg`'s protocol connection a listener needs. */
interface ProtocolConnection {
  query(text: string): void
  sendCopyFail(message: string): void
  on(event: 'notification', listener: (message: { channel: string }) => void): unknown
  on(event: 'end', listener: () => void): unknown
  removeListener(event: 'notification', listener: (message: { channel: string }) => void): unknown
  removeListener(event: 'end', listener: () => void): unknown
}

/** A connection that lived shorter than this before it ended counts as a failure (backoff). */
const SHORT_LIVED_MS = 1000

export function listenOnSharedConnection(
  db: Kysely<Database>,
  hooks: Omit<ListenHooks, 'probe'>,
): WorkListener {
  let closed = false
  let failures = 0
  let retryTimer: ReturnType<typeof setTimeout> | undefined
  let connecting: Promise<void> | undefined
  let heard: ProtocolConnection | undefined
  let stopHearing = () => {}

  const listenLater = (delay: number) => {
    if (closed || retryTimer) return
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      connecting = listen()
    }, delay)
  }

  const hear = (connection: ProtocolConnection) => {
    const since = Date.now()
    const onNotification = (message: { channel: string }) => {
      if (message.channel === WORK_CHANNEL) hooks.onWork()
    }
    const onEnd = () => {
      if (heard !== connection) return
      stopHearing()
      if (Date.now() - since < SHORT_LIVED_MS) failures += 1
      else failures = 0
      listenLater(failures === 0 ? 0 : backoffDelay(hooks.retry, failures))
    }
    connection.on('notification', onNotification)
    connection.on('end', onEnd)
    heard = connection
    stopHearing = () => {
      connection.removeListener('notification', onNotification)
      connection.removeListener('end', onEnd)
      if (heard === connection) heard = undefined
      stopHearing = () => {}
    }
  }

  async function listen(): Promise<void> {
    // Heard from the moment `pg` sends it, so nothing the session is notified of after its
    // LISTEN takes effect goes unheard; the wake below covers everything before.
    const statement = new SubmittedStatement(`LISTEN ${WORK_CHANNEL}`, hear)
    try {
      await db.executeQuery(CompiledQuery.raw(statement as unknown as string))
    } catch (error) {
      if (statement.connection && heard === statement.connection) stopHearing()
      if (closed) return
      // A client that cannot take a query object (not `pg`'s, or `pg` in pipeline mode) sent
      // its text or refused it: polling only, without a word.
      if (!statement.connection && isNotSubmittable(error)) return
      failures += 1
      hooks.onError(error)
      listenLater(backoffDelay(hooks.retry, failures))
      return
    }
    if (!statement.connection) return // a client that never ran it: polling only
    if (closed) {
      stopHearing()
      return
    }
    hooks.onWork()
  }

  connecting = listen()

  return {
    async close() {
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      retryTimer = undefined
      await connecting
      stopHearing()
    },
  }
}

/**
 * A server's syntax error (the client sent "[object Object]"), a client's TypeError, or `pg`
 * refusing query objects on a pipelined connection.
 */
function isNotSubmittable(error: unknown): boolean {
  if (error instanceof TypeError) return true
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  return (
    code === '42601' ||
    (typeof message === 'string' && /not supported in pipeline mode/.test(message))
  )
}

/** What Kysely reads of a statement's result. */
interface Answer {
  command: string
  rowCount: null
  rows: []
}

/**
 * A statement as `pg` runs a query object: `submit` gets the protocol connection, the
 * `handle…` methods its answers. Kysely awaits what `client.query` returns, which for a query
 * object is the object itself: a thenable settling on the answer.
 */
class SubmittedStatement implements PromiseLike<Answer> {
  connection: ProtocolConnection | undefined
  readonly #answer: Promise<Answer>
  #settle!: (error?: unknown) => void

  constructor(
    readonly text: string,
    private readonly onSubmit: (connection: ProtocolConnection) => void,
  ) {
    this.#answer = new Promise((resolve, reject) => {
      let settled = false
      this.#settle = (error) => {
        if (settled) return
        settled = true
        if (error === undefined) resolve({ command: 'LISTEN', rowCount: null, rows: [] })
        else reject(error)
      }
    })
  }

  submit(connection: ProtocolConnection): void {
    this.connection = connection
    this.onSubmit(connection)
    connection.query(this.text)
  }

  handleError(error: unknown): void {
    this.#settle(error)
  }

  handleReadyForQuery(): void {
    this.#settle()
  }

  handleCopyInResponse(connection: ProtocolConnection): void {
    connection.sendCopyFail('durably sent no COPY')
  }

  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}

  // biome-ignore lint/suspicious/noThenProperty: Kysely awaits what `pg` returns for it
  then<A = Answer, B = never>(
    onAnswer?: ((value: Answer) => A | PromiseLike<A>) | null,
    onError?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): PromiseLike<A | B> {
    return this.#answer.then(onAnswer, onError)
  }

  toString(): string {
    return this.text
  }
}
