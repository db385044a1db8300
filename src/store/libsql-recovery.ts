/**
 * libSQL's local driver leaves a statement that failed with SQLITE_BUSY un-reset: the
 * connection then keeps an implicit transaction open, its later writes stay invisible to
 * other connections and theirs fail as busy. Closing the connection is the only cure, so
 * this dialect wrapper remembers each client that offers `reconnect()` (libSQL's do), and
 * the store calls `recover()` after a busy error, then re-applies its per-connection pragmas.
 *
 * It reaches into `connection.client`, a field libSQL's Kysely connection does not document:
 * a dialect without it is wrapped harmlessly (`recover()` then answers false). The driver is
 * a class forwarding every Driver method, optional savepoints included, so `durably.db`
 * keeps all of Kysely's transaction features.
 */
import type {
  DatabaseConnection,
  Dialect,
  Driver,
  QueryCompiler,
  TransactionSettings,
} from 'kysely'

interface Reconnectable {
  reconnect(): Promise<void> | void
}

export interface RecoverableDialect extends Dialect {
  recover(): Promise<boolean>
}

export function withLibsqlRecovery(dialect: Dialect): RecoverableDialect {
  const clients = new Set<Reconnectable>()
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver: () => new RecoveringDriver(dialect.createDriver(), clients),
    async recover() {
      if (clients.size === 0) return false
      for (const client of clients) await client.reconnect()
      return true
    },
  }
}

class RecoveringDriver implements Driver {
  readonly #inner: Driver
  readonly #clients: Set<Reconnectable>

  constructor(inner: Driver, clients: Set<Reconnectable>) {
    this.#inner = inner
    this.#clients = clients
  }

  init(): Promise<void> {
    return this.#inner.init()
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.#inner.acquireConnection()
    const client = (connection as { client?: Partial<Reconnectable> }).client
    if (client && typeof client.reconnect === 'function') this.#clients.add(client as Reconnectable)
    return connection
  }

  beginTransaction(connection: DatabaseConnection, settings: TransactionSettings): Promise<void> {
    return this.#inner.beginTransaction(connection, settings)
  }

  commitTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.commitTransaction(connection)
  }

  rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    return this.#inner.rollbackTransaction(connection)
  }

  async savepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.#inner.savepoint) throw unsupported('savepoint')
    return this.#inner.savepoint(connection, name, compileQuery)
  }

  async rollbackToSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.#inner.rollbackToSavepoint) throw unsupported('rollbackToSavepoint')
    return this.#inner.rollbackToSavepoint(connection, name, compileQuery)
  }

  async releaseSavepoint(
    connection: DatabaseConnection,
    name: string,
    compileQuery: QueryCompiler['compileQuery'],
  ): Promise<void> {
    if (!this.#inner.releaseSavepoint) throw unsupported('releaseSavepoint')
    return this.#inner.releaseSavepoint(connection, name, compileQuery)
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    return this.#inner.releaseConnection(connection)
  }

  destroy(): Promise<void> {
    return this.#inner.destroy()
  }
}

// The same words Kysely uses when a driver lacks the method, so behaviour matches unwrapped.
function unsupported(method: string): Error {
  return new Error(`The \`${method}\` method is not supported by this driver`)
}
