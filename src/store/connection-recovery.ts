/**
 * libSQL's local driver leaves a statement that failed with SQLITE_BUSY un-reset: the
 * connection then keeps an implicit transaction open, its later writes stay invisible to
 * other connections and theirs fail as busy. Closing the connection is the only cure, so
 * this dialect wrapper remembers each client that offers `reconnect()` (libSQL's do), and
 * the store calls `recover()` after a busy error, then re-applies its per-connection pragmas.
 */
import type { DatabaseConnection, Dialect, Driver, TransactionSettings } from 'kysely'

interface Reconnectable {
  reconnect(): Promise<void> | void
}

export interface RecoverableDialect extends Dialect {
  recover(): Promise<boolean>
}

export function withConnectionRecovery(dialect: Dialect): RecoverableDialect {
  const clients = new Set<Reconnectable>()
  return {
    createAdapter: () => dialect.createAdapter(),
    createIntrospector: (db) => dialect.createIntrospector(db),
    createQueryCompiler: () => dialect.createQueryCompiler(),
    createDriver(): Driver {
      const inner = dialect.createDriver()
      return {
        init: () => inner.init(),
        async acquireConnection() {
          const connection = await inner.acquireConnection()
          const client = (connection as { client?: Partial<Reconnectable> }).client
          if (client && typeof client.reconnect === 'function') clients.add(client as Reconnectable)
          return connection
        },
        beginTransaction: (connection: DatabaseConnection, settings: TransactionSettings) =>
          inner.beginTransaction(connection, settings),
        commitTransaction: (connection: DatabaseConnection) => inner.commitTransaction(connection),
        rollbackTransaction: (connection: DatabaseConnection) =>
          inner.rollbackTransaction(connection),
        releaseConnection: (connection: DatabaseConnection) => inner.releaseConnection(connection),
        destroy: () => inner.destroy(),
      }
    },
    async recover() {
      if (clients.size === 0) return false
      for (const client of clients) await client.reconnect()
      return true
    },
  }
}
