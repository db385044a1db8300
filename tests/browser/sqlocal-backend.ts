/**
 * SQLocal in the browser: SQLite in OPFS, reached through a worker. Each test gets a fresh
 * database file; a second dialect is a second SQLocal client on the same file, as a second
 * tab would be.
 */
import type { DatabaseConnection, Dialect, Driver, TransactionSettings } from 'kysely'
import { SQLocalKysely } from 'sqlocal/kysely'
import type { Backend } from '../support/backends.js'

let counter = 0

export const sqlocalBackend: Backend = {
  name: 'sqlocal',
  family: 'sqlite',
  async create() {
    const file = `durably-test-${Date.now().toString(36)}-${counter++}.sqlite3`
    const clients: SQLocalKysely[] = []
    const open = () => {
      const client = new SQLocalKysely(file)
      clients.push(client)
      return client
    }
    const raw = open()
    return {
      dialect: onOpfs(open),
      secondDialect: () => onOpfs(open),
      async exec(sqlText, args = []) {
        return raw.sql(sqlText, ...args)
      },
      async cleanup() {
        // Other clients first: the file cannot be deleted while their workers hold it open.
        const others = clients.filter((client) => client !== raw)
        await Promise.all(others.map((client) => bounded(client.destroy())))
        await bounded(raw.deleteDatabaseFile())
        await bounded(raw.destroy())
      },
    }
  },
}

/**
 * A client's dialect, opened again when SQLocal fell back to memory. Opening a file another
 * client holds can fail inside SQLocal, which then quietly keeps the database in memory (it
 * says so through durably's `storage:volatile`): a "second tab" would then run on a database
 * of its own, and a test of two workers on one database would test nothing of the kind.
 */
function onOpfs(open: () => SQLocalKysely): Dialect {
  let client = open()
  const first = client.dialect
  return {
    createAdapter: () => first.createAdapter(),
    createIntrospector: (db) => first.createIntrospector(db),
    createQueryCompiler: () => first.createQueryCompiler(),
    createDriver: (): Driver => {
      let inner: Driver | undefined
      const driver = () => {
        if (!inner) throw new Error('sqlocal test backend: the driver was used before init()')
        return inner
      }
      return {
        async init() {
          for (let attempt = 1; attempt < 5; attempt++) {
            const info = await client.getDatabaseInfo()
            if (info.storageType !== 'memory') break
            await bounded(client.destroy())
            await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
            client = open()
          }
          inner = client.dialect.createDriver()
          await inner.init()
        },
        acquireConnection: () => driver().acquireConnection(),
        beginTransaction: (connection: DatabaseConnection, settings: TransactionSettings) =>
          driver().beginTransaction(connection, settings),
        commitTransaction: (connection: DatabaseConnection) =>
          driver().commitTransaction(connection),
        rollbackTransaction: (connection: DatabaseConnection) =>
          driver().rollbackTransaction(connection),
        releaseConnection: (connection: DatabaseConnection) =>
          driver().releaseConnection(connection),
        destroy: () => driver().destroy(),
      }
    },
  }
}

/** Cleanup must not hang a test: every file has a unique name, so a leftover is harmless. */
function bounded(operation: Promise<unknown>, ms = 5000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms)
    operation.then(
      () => {
        clearTimeout(timer)
        resolve()
      },
      () => {
        clearTimeout(timer)
        resolve()
      },
    )
  })
}
