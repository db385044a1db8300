/**
 * Where a crash scenario keeps its data, described so a child process can open it too:
 * a libSQL file, or a PostgreSQL schema reached through the pool's search_path.
 */
import { join } from 'node:path'
import { createClient } from '@libsql/client'
import { LibsqlDialect } from '@libsql/kysely-libsql'
import { type Dialect, PostgresDialect } from 'kysely'
import pg from 'pg'

export type CrashBackend = 'libsql' | 'postgres'

/** JSON-serialisable: passed to children in an environment variable. */
export type DatabaseLocation =
  | { backend: 'libsql'; file: string }
  | { backend: 'postgres'; url: string; schema: string }

export function libsqlLocation(dir: string): DatabaseLocation {
  return { backend: 'libsql', file: join(dir, 'crash.db') }
}

export function openDialect(location: DatabaseLocation): Dialect {
  if (location.backend === 'libsql') {
    return new LibsqlDialect({ client: createClient({ url: `file:${location.file}` }) })
  }
  const pool = new pg.Pool({
    connectionString: location.url,
    options: `-c search_path=${location.schema}`,
    max: 4,
  })
  // A connection dropped while idle is reported here; the next statement gets a fresh one.
  pool.on('error', () => {})
  return new PostgresDialect({ pool })
}
