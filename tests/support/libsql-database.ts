/**
 * libSQL's own `Database` (the `libsql` package under @libsql/client, shaped like
 * better-sqlite3) through Kysely's SqliteDialect, its statements kept by `cacheStatements`:
 * the fast way to a libSQL file. Each dialect owns its own connection to one temp file.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { SqliteDialect } from 'kysely'
import Database from 'libsql'
import { cacheStatements } from '../../src/index.js'
import { type Backend, tempDir } from './backends.js'

export const libsqlDatabaseBackend: Backend = {
  name: 'libsql Database with cached statements',
  family: 'sqlite',
  async create() {
    const dir = tempDir('libsql-database')
    const file = join(dir, 'test.db')
    const connections: Database.Database[] = []
    const open = () => {
      const connection = new Database(file, { timeout: 5000 })
      connections.push(connection)
      return connection
    }
    const raw = open()
    const dialect = () => new SqliteDialect({ database: cacheStatements(open()) })
    return {
      dialect: dialect(),
      secondDialect: dialect,
      async exec(sqlText, args = []) {
        const statement = raw.prepare(sqlText)
        if (statement.reader) return statement.all(...args) as Record<string, unknown>[]
        statement.run(...args)
        return []
      },
      async cleanup() {
        for (const connection of connections) connection.close()
        rmSync(dir, { recursive: true, force: true })
      },
    }
  },
}
