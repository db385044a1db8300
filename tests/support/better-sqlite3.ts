/**
 * better-sqlite3 through Kysely's SqliteDialect: the synchronous native driver many Node
 * apps already use. Each dialect owns its own connection to one temp file, as two
 * processes would. The second backend wraps each connection in `cacheStatements`.
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteDialect } from 'kysely'
import { cacheStatements } from '../../src/index.js'
import { type Backend, tempDir } from './backends.js'

export const betterSqlite3Backend = betterSqlite3('better-sqlite3', (database) => database)

export const betterSqlite3CachedBackend = betterSqlite3(
  'better-sqlite3 with cached statements',
  cacheStatements,
)

function betterSqlite3(
  name: string,
  wrap: (database: Database.Database) => Database.Database,
): Backend {
  return {
    name,
    family: 'sqlite',
    async create() {
      const dir = tempDir('better-sqlite3')
      const file = join(dir, 'test.db')
      const connections: Database.Database[] = []
      const open = () => {
        const connection = new Database(file, { timeout: 5000 })
        connections.push(connection)
        return connection
      }
      const raw = open()
      return {
        dialect: new SqliteDialect({ database: wrap(open()) }),
        secondDialect: () => new SqliteDialect({ database: wrap(open()) }),
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
}
