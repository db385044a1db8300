/**
 * SQLocal in the browser: SQLite in OPFS, reached through a worker. Each test gets a fresh
 * database file; a second dialect is a second SQLocal client on the same file, as a second
 * tab would be.
 */
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
      dialect: open().dialect,
      secondDialect: () => open().dialect,
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
