/**
 * libSQL's local driver leaves a statement that failed with SQLITE_BUSY un-reset: the
 * connection then keeps an implicit transaction open, its later writes stay invisible to
 * other connections and theirs fail as busy. Closing the connection is the only cure, so
 * this dialect wrapper remembers each client that offers `reconnect()` (libSQL's do), and
 * the store calls `recover()` after a busy error, then re-applies its per-connection pragmas.
 *
 * It reaches into `connection.client`, a field libSQL's Kysely connection does not document:
 * a dialect without it is wrapped harmlessly (`recover()` then answers false). Every other
 * driver call is forwarded unchanged.
 */
import type { DatabaseConnection, Dialect, Driver } from 'kysely'
import { ForwardingDriver } from './forwarding-driver.js'

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

class RecoveringDriver extends ForwardingDriver {
  readonly #clients: Set<Reconnectable>

  constructor(inner: Driver, clients: Set<Reconnectable>) {
    super(inner)
    this.#clients = clients
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const connection = await this.inner.acquireConnection()
    const client = (connection as { client?: Partial<Reconnectable> }).client
    if (client && typeof client.reconnect === 'function') this.#clients.add(client as Reconnectable)
    return connection
  }
}
