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
  let heard: ProtocolConnection | undefined
  let stopHearing = () => {}

  const listenLater = (delay: number) => {
    if (closed || retryTimer) return
    retryTimer = setTimeout(() => {
      retryTimer = undefined
      void listen()
    }, delay)
  }

  // A failure is reported once per streak: a refusal that lasts (a standby refuses LISTEN)
  // must not say the same every second. Listening is tried again all the same.
  const failed = (error: unknown) => {
    failures += 1
    if (failures === 1) hooks.onError(error)
    listenLater(backoffDelay(hooks.retry, failures))
  }

  const hear = (connection: ProtocolConnection) => {
    if (closed) return
    const since = Date.now()
    const onNotification = (message: { channel: string }) => {
      if (message.channel === WORK_CHANNEL && !closed) hooks.onWork()
    }
    const onEnd = () => {
      if (heard !== connection) return
      stopHearing()
      // The pool ending a connection it kept a while (idle timeout, maxUses) is routine.
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
    let acquired = false
    try {
      await db.connection().execute(async (connection) => {
        acquired = true
        await connection.executeQuery(CompiledQuery.raw(statement as unknown as string))
      })
    } catch (error) {
      if (statement.connection && heard === statement.connection) stopHearing()
      if (closed) return
      // A client that cannot take a query object (not `pg`'s JavaScript client, or `pg` in
      // pipeline mode) sent its text, refused it or was handed back: polling only, quietly.
      // Failing to get a connection at all is a failure like any other.
      if (statement.unsupported || (acquired && !statement.connection && isNotSubmittable(error)))
        return
      failed(error)
      return
    }
    if (closed || !statement.connection) {
      stopHearing()
      return
    }
    failures = 0
    hooks.onWork()
  }

  void listen()

  return {
    // Not waiting for a LISTEN in flight: on a socket that died without a word it may never
    // be answered, and a late answer finds the listener closed.
    async close() {
      closed = true
      if (retryTimer) clearTimeout(retryTimer)
      retryTimer = undefined
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
 *
 * `pg`'s native client hands `submit` itself instead of a protocol connection, then waits for
 * '_done' and reads `state`: the statement says it cannot run there, as a finished query.
 */
class SubmittedStatement implements PromiseLike<Answer> {
  connection: ProtocolConnection | undefined
  /** Submitted to something other than `pg`'s protocol connection: never sent. */
  unsupported = false
  /** `pg`'s: 'end' or 'error' once the statement no longer occupies its client. */
  state: 'submitted' | 'end' | 'error' = 'submitted'
  /** Set by `pg` when it times the statement out (`query_timeout`): called once it settles. */
  callback?: (error: unknown, answer?: Answer) => void
  readonly #answer: Promise<Answer>
  #settle!: (error?: unknown) => void
  readonly #onDone: (() => void)[] = []

  constructor(
    readonly text: string,
    private readonly onSubmit: (connection: ProtocolConnection) => void,
  ) {
    this.#answer = new Promise((resolve, reject) => {
      let settled = false
      this.#settle = (error) => {
        if (settled) return
        settled = true
        const answer: Answer = { command: 'LISTEN', rowCount: null, rows: [] }
        this.state = error === undefined ? 'end' : 'error'
        // Clears the read timer `pg` armed for it, as its own queries do.
        this.callback?.(error ?? null, answer)
        if (error === undefined) resolve(answer)
        else reject(error)
      }
    })
    // Kysely awaits it; a settlement nobody awaits (the client threw first) is not a crash.
    this.#answer.catch(() => {})
  }

  submit(target: unknown): void {
    if (!isProtocolConnection(target)) {
      this.unsupported = true
      process.nextTick(() => {
        this.#settle(new Error('durably: this PostgreSQL client cannot run a query object'))
        for (const listener of this.#onDone.splice(0)) listener()
      })
      return
    }
    this.connection = target
    this.onSubmit(target)
    target.query(this.text)
  }

  /** The native client's wait for the statement to leave it (the only event it asks for). */
  once(event: string, listener: () => void): this {
    if (event === '_done') this.#onDone.push(listener)
    return this
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

/** `pg`'s protocol connection, as its JavaScript client hands it to a query object. */
function isProtocolConnection(target: unknown): target is ProtocolConnection {
  const candidate = target as Partial<Record<keyof ProtocolConnection, unknown>> | null
  return (
    typeof candidate?.query === 'function' &&
    typeof candidate.sendCopyFail === 'function' &&
    typeof candidate.on === 'function' &&
    typeof candidate.removeListener === 'function' &&
    // A client has `query` and `on` too; only the protocol connection parses statements.
    'parsedStatements' in (candidate as object)
  )
}
