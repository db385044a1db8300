/**
 * better-sqlite3 through Kysely's SqliteDialect: the synchronous native driver many Node
 * apps already use. Each dialect owns its own connection to one temp file, as two
 * processes would. The second backend wraps each connection in `cacheStatements`;
 * `sqliteDatabaseBackend` serves any driver shaped like better-sqlite3 (libsql-database.ts).
 */
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { SqliteDialect } from 'kysely'
import { cacheStatements } from '../../src/index.js'
import { type Backend, tempDir } from './backends.js'

const openBetterSqlite3 = (file: string) => new Database(file, { timeout: 5000 })

export const betterSqlite3Backend = sqliteDatabaseBackend(
  'better-sqlite3',
  openBetterSqlite3,
  (database) => database,
)

export const betterSqlite3CachedBackend = sqliteDatabaseBackend(
  'better-sqlite3 with cached statements',
  openBetterSqlite3,
  cacheStatements,
)

export function sqliteDatabaseBackend(
  name: string,
  openFile: (file: string) => Database.Database,
  wrap: (database: Database.Database) => Database.Database,
): Backend {
  return {
    name,
    family: 'sqlite',
    async create() {
      const dir = tempDir(name.replace(/\W+/g, '-'))
      const file = join(dir, 'test.db')
      const connections: Database.Database[] = []
      const open = () => {
        const connection = openFile(file)
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
