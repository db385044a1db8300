/**
 * Where a crash scenario keeps its data, described so a child process can open it too:
 * a libSQL file, the same through better-sqlite3 with `cacheStatements`, or a PostgreSQL
 * schema reached through the pool's search_path.
 */
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import Database from 'better-sqlite3'
import { type Dialect, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import { cacheStatements } from '../../src/index.js'

export type CrashBackend = 'libsql' | 'better-sqlite3' | 'postgres'

/** JSON-serialisable: passed to children in an environment variable. */
export type DatabaseLocation =
  | { backend: 'libsql' | 'better-sqlite3'; file: string }
  | { backend: 'postgres'; url: string; schema: string }

export function fileLocation(backend: 'libsql' | 'better-sqlite3', dir: string): DatabaseLocation {
  return { backend, file: join(dir, 'crash.db') }
}

export function openDialect(location: DatabaseLocation): Dialect {
  if (location.backend === 'postgres') {
    const pool = new pg.Pool({
      connectionString: location.url,
      options: `-c search_path=${location.schema}`,
      max: 4,
    })
    // A connection dropped while idle is reported here; the next statement gets a fresh one.
    pool.on('error', () => {})
    return new PostgresDialect({ pool })
  }
  if (location.backend === 'libsql') {
    return new LibsqlDialect({ client: createClient({ url: `file:${location.file}` }) })
  }
  const database = cacheStatements(new Database(location.file, { timeout: 5000 }))
  return new SqliteDialect({ database })
}
