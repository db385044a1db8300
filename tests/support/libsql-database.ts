/**
 * libSQL's own `Database` (the `libsql` package under @libsql/client, shaped like
 * better-sqlite3) through Kysely's SqliteDialect, its statements kept by `cacheStatements`.
 */
import type BetterSqlite3 from 'better-sqlite3'
import Libsql from 'libsql'
import { cacheStatements } from '../../src/index.js'
import { sqliteDatabaseBackend } from './better-sqlite3.js'

export const libsqlDatabaseBackend = sqliteDatabaseBackend(
  'libsql Database with cached statements',
  // Typed as better-sqlite3's: the factory takes that shape, which libSQL's Database has.
  (file) => new Libsql(file, { timeout: 5000 }) as unknown as BetterSqlite3.Database,
  cacheStatements,
)
