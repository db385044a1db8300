/**
 * Kysely's SqliteDialect asks the database to prepare every statement it runs, and
 * better-sqlite3 (like libSQL's own `Database`, shaped after it) prepares anew each time:
 * SQLite parses and plans the claim (with its triggers and partial indexes) on every claim,
 * which costs more than running it. `cacheStatements` keeps durably's own hot statements
 * (claim, step commit, heartbeat, completion, insert) prepared, one per text; every other
 * statement, yours included, is prepared as before.
 *
 * Reusing a prepared statement is how better-sqlite3 is meant to be used: each `run`/`all`
 * resets it, and SQLite prepares it again by itself when the schema changed. Hot statements
 * are never streamed (`iterate`), so no two uses of one statement overlap.
 */
import type { SqliteDatabase, SqliteStatement } from 'kysely'
import { InvalidArgumentError } from '../errors.js'
import { isHotSql } from './compiled.js'

/** Statements kept per database at most (a few dozen texts in practice). */
const MAX_STATEMENTS = 256

/**
 * The database, keeping durably's hot statements prepared: pass it to Kysely's SqliteDialect.
 * Everything else on it (pragmas, transactions, your statements) is the database's own.
 *
 * @example
 * const database = cacheStatements(new Database('app.db'))
 * const durably = createDurably({ dialect: new SqliteDialect({ database }) })
 */
export function cacheStatements<D extends SqliteDatabase>(database: D): D {
  if (typeof (database as Partial<SqliteDatabase> | null)?.prepare !== 'function') {
    throw new InvalidArgumentError(
      'cacheStatements: expected a better-sqlite3 Database (an object with prepare())',
    )
  }
  const prepared = new Map<string, SqliteStatement>()
  const prepare = (sql: string): SqliteStatement => {
    if (!isHotSql(sql)) return database.prepare(sql)
    let statement = prepared.get(sql)
    if (!statement) {
      if (prepared.size >= MAX_STATEMENTS) prepared.clear()
      statement = database.prepare(sql)
      prepared.set(sql, statement)
    }
    return statement
  }
  const close = () => {
    prepared.clear()
    return database.close()
  }
  return new Proxy(database, {
    get(target, property) {
      if (property === 'prepare') return prepare
      if (property === 'close') return close
      const value: unknown = Reflect.get(target, property, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
}
