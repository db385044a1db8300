/**
 * Opening the storage layer for a dialect: decide its SQL family, wrap libSQL's driver for
 * busy recovery and PostgreSQL's for prepared hot statements, build the Kysely instance and
 * the store (statements, then the layer that turns driver failures into `DatabaseError`s),
 * and describe how to listen for work where the family can, and what the storage is
 * (`describeStorage`, for the volatile-storage warning).
 * `createDurably` imports nothing else from store/ but types.
 */
import { type Dialect, type Driver, Kysely } from 'kysely'
import { InvalidArgumentError } from '../errors.js'
import { detectFamily, type FamilyName, type SqlFamily } from './family.js'
import { createKyselyStore } from './kysely-store.js'
import { withLibsqlRecovery } from './libsql-recovery.js'
import { postgresFamily } from './postgres-family.js'
import {
  guardPoolConnections,
  type ListenHooks,
  type ListenPool,
  listenForWork,
  type WorkListener,
} from './postgres-listener.js'
import { withPreparedStatements } from './postgres-prepared.js'
import { listenOnSharedConnection } from './postgres-shared-listener.js'
import { withDatabaseErrors } from './resilient.js'
import type { Database } from './schema.js'
import { sqliteFamily } from './sqlite-family.js'
import type { Store } from './store.js'

export type { ListenHooks }

export interface OpenStoreOptions {
  family?: FamilyName
  /** A pool to keep a connection out of for `LISTEN`; false: never listen (PostgreSQL). */
  listen?: ListenPool | false
  now: () => number
}

export interface OpenedStore {
  db: Kysely<Database>
  store: Store
  /** Present where other processes can announce work (PostgreSQL unless `listen: false`). */
  listen?: (hooks: ListenHooks) => WorkListener
  /**
   * Where the database lives, when the dialect can tell (SQLocal in a browser), else
   * undefined. Ask after the first query: the driver exists only then.
   */
  describeStorage(): Promise<StorageDescription | undefined>
}

/** Where a browser database lives, as SQLocal reports it. */
export interface StorageDescription {
  /** SQLocal's word: `'opfs'`, `'memory'`, `'local'` (localStorage), `'session'`, … */
  storageType: string
  /** The database path SQLocal ended up with (`':memory:'` after a fallback), if it says. */
  databasePath: string | null
  /** False when the data goes with the page (memory) or with the tab (sessionStorage). */
  persistent: boolean
}

export function openStore(dialect: Dialect, options: OpenStoreOptions): OpenedStore {
  const family: SqlFamily =
    (options.family ?? detectFamily(dialect)) === 'postgres' ? postgresFamily : sqliteFamily
  const pool = options.listen || undefined
  if (pool && family !== postgresFamily) {
    throw new InvalidArgumentError(
      'createDurably: "listen" needs a PostgreSQL dialect (LISTEN/NOTIFY is PostgreSQL-only)',
    )
  }
  if (pool) guardPoolConnections(pool)
  const observed = family === sqliteFamily ? observeDriver(dialect) : undefined
  const recoverable = observed ? withLibsqlRecovery(observed.dialect) : undefined
  const prepared = family === postgresFamily ? withPreparedStatements(dialect) : dialect
  const db = new Kysely<Database>({ dialect: recoverable ?? prepared })
  const recover = async () => {
    if (recoverable && (await recoverable.recover())) await family.prepare(db)
  }
  const store = withDatabaseErrors(createKyselyStore(db, family), family, recover, options.now)
  // With a pool of its own, durably keeps one connection listening (and probes it); else it
  // listens on whichever of the dialect's pooled connections runs its LISTEN.
  const listening = (): Pick<OpenedStore, 'listen'> => {
    if (pool) return { listen: (hooks) => listenForWork(pool, hooks) }
    if (family !== postgresFamily || options.listen === false) return {}
    return { listen: (hooks) => listenOnSharedConnection(db, hooks) }
  }
  return {
    db,
    store,
    ...listening(),
    describeStorage: () => describeSqlocal(observed?.driver()),
  }
}

/**
 * The same dialect, remembering the driver Kysely creates from it (once, on first use). The
 * driver is handed on untouched, so nothing about queries or transactions changes.
 */
function observeDriver(dialect: Dialect): { dialect: Dialect; driver(): Driver | undefined } {
  let driver: Driver | undefined
  return {
    dialect: {
      createAdapter: () => dialect.createAdapter(),
      createIntrospector: (db) => dialect.createIntrospector(db),
      createQueryCompiler: () => dialect.createQueryCompiler(),
      createDriver: () => {
        driver = dialect.createDriver()
        return driver
      },
    },
    driver: () => driver,
  }
}

/** What SQLocal's `getDatabaseInfo()` answers; read by shape, so durably never imports it. */
interface SqlocalInfo {
  storageType?: unknown
  databasePath?: unknown
}

// Gone when the tab or page goes: SQLocal's in-memory fallback (OPFS unavailable, as on a page
// that is not cross-origin isolated) and sessionStorage. Any other kind is taken as lasting.
const VOLATILE_STORAGE = new Set(['memory', 'session'])

/**
 * SQLocal's Kysely driver keeps its client in `client` (not a documented field, read by
 * shape like libsql-recovery's), and the client tells where the database is: OPFS, or memory
 * after SQLocal fell back with only a console line of its own. Every other driver has no
 * such client and describes nothing.
 */
async function describeSqlocal(
  driver: Driver | undefined,
): Promise<StorageDescription | undefined> {
  const client = (driver as { client?: { getDatabaseInfo?: unknown } } | undefined)?.client
  if (!client || typeof client.getDatabaseInfo !== 'function') return undefined
  const info = (await (client.getDatabaseInfo as () => Promise<SqlocalInfo>).call(client)) ?? {}
  if (typeof info.storageType !== 'string') return undefined
  return {
    storageType: info.storageType,
    databasePath: typeof info.databasePath === 'string' ? info.databasePath : null,
    persistent: !VOLATILE_STORAGE.has(info.storageType),
  }
}
