/**
 * PostgreSQL plans a statement each time it is sent unless it was prepared, and the claim's
 * plan costs more than running it. `pg` prepares a statement on a connection when the query
 * carries a name, then sends only the name and values. Kysely's PostgreSQL connection hands
 * its SQL text to `pg` as given, so the hot statements (src/store/compiled.ts) reach `pg` as
 * a query config with a name instead of a text; every other query passes unchanged.
 *
 * The name is a hash of the text: two processes, or two versions, that prepare the same name
 * on a server connection (behind a pooler) prepare the same statement. When the server does
 * not know a name `pg` believes prepared (a pooler in transaction mode without prepared
 * statement support, `DISCARD ALL` on the connection), knows it already, or the prepared
 * plan's result no longer fits (a column added), naming is turned off for this instance and
 * the statement is sent again as text, at once outside a transaction and by the store's retry
 * inside one (`isPreparedStatementLost` counts as busy: nothing ran).
 */
import type { CompiledQuery, DatabaseConnection, Dialect, Driver, QueryResult } from 'kysely'
import { PostgresDialect } from 'kysely'
import { isHotStatement } from './compiled.js'
import { ForwardingDriver } from './forwarding-driver.js'

/**
 * Prepared statements for `dialect` when it is Kysely's PostgresDialect (whose pool is `pg`'s
 * or shaped like it); any other dialect is returned as it is.
 */
export function withPreparedStatements(dialect: Dialect): Dialect {
  if (!(dialect instanceof PostgresDialect) && dialect.constructor?.name !== 'PostgresDialect') {
    return dialect
  }
  const naming = { on: true }
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => new PreparingDriver(dialect.createDriver(), naming),
  }
}

/** The server or `pg` refused a named statement before running it (see the file's comment). */
export function isPreparedStatementLost(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown }
  if (code === '26000' || code === '42P05') return true // no such statement; already exists
  return (
    code === '0A000' && typeof message === 'string' && /cached plan must not change/.test(message)
  )
}

class PreparingDriver extends ForwardingDriver {
  readonly #connections = new WeakMap<DatabaseConnection, PreparingConnection>()

  constructor(
    inner: Driver,
    private readonly naming: { on: boolean },
  ) {
    super(inner)
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection()
    let preparing = this.#connections.get(connection)
    if (!preparing) {
      preparing = new PreparingConnection(connection, this.naming)
      this.#connections.set(connection, preparing)
    }
    return preparing
  }

  override async beginTransaction(
    connection: DatabaseConnection,
    settings: Parameters<Driver['beginTransaction']>[1],
  ): Promise<void> {
    await super.beginTransaction(connection, settings)
    if (connection instanceof PreparingConnection) connection.inTransaction = true
  }

  override async commitTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.commitTransaction(connection)
    } finally {
      if (connection instanceof PreparingConnection) connection.inTransaction = false
    }
  }

  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    try {
      await super.rollbackTransaction(connection)
    } finally {
      if (connection instanceof PreparingConnection) connection.inTransaction = false
    }
  }

  protected override unwrap(connection: DatabaseConnection): DatabaseConnection {
    return connection instanceof PreparingConnection ? connection.inner : connection
  }
}

class PreparingConnection implements DatabaseConnection {
  inTransaction = false

  constructor(
    readonly inner: DatabaseConnection,
    private readonly naming: { on: boolean },
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    if (!this.naming.on || !isHotStatement(query)) return this.inner.executeQuery<R>(query)
    const named = new NamedQuery(nameOf(query.sql), query.sql)
    try {
      // `pg` takes a query config where Kysely passes the text; its `toString()` is the text
      // for anything (a logger) that reads it as one.
      return await this.inner.executeQuery<R>({ ...query, sql: named as unknown as string })
    } catch (error) {
      if (!isPreparedStatementLost(error)) throw error
      this.naming.on = false
      if (this.inTransaction) throw error
      return this.inner.executeQuery<R>(query)
    }
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number) {
    return this.inner.streamQuery<R>(query, chunkSize)
  }
}

/** What `pg` reads of a named query: it prepares `text` as `name` once per connection. */
class NamedQuery {
  constructor(
    readonly name: string,
    readonly text: string,
  ) {}

  toString(): string {
    return this.text
  }
}

const names = new Map<string, string>()

function nameOf(text: string): string {
  let name = names.get(text)
  if (name === undefined) {
    name = `durably_${hash64(text)}`
    names.set(text, name)
  }
  return name
}

/** 64 bits of a text (two multiply-xor lanes, cyrb53's mixing): a name, not a secret. */
function hash64(text: string): string {
  let a = 0xdeadbeef
  let b = 0x41c6ce57
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    a = Math.imul(a ^ code, 2654435761)
    b = Math.imul(b ^ code, 1597334677)
  }
  a = Math.imul(a ^ (a >>> 16), 2246822507) ^ Math.imul(b ^ (b >>> 13), 3266489909)
  b = Math.imul(b ^ (b >>> 16), 2246822507) ^ Math.imul(a ^ (a >>> 13), 3266489909)
  return (b >>> 0).toString(16).padStart(8, '0') + (a >>> 0).toString(16).padStart(8, '0')
}
