/**
 * The PostgreSQL backend: each test database is a fresh schema reached through the pool's
 * search_path, so parallel runs never collide. Probed once at import: in CI an unreachable
 * server fails the run; elsewhere its suites are skipped with one line saying why.
 */
import type { Backend, TestDatabase } from './backends.js'

export const POSTGRES_URL =
  process.env.DURABLY_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

export async function probePostgres(url = POSTGRES_URL): Promise<string | undefined> {
  const pg = await import('pg')
  const client = new pg.default.Client({ connectionString: url, connectionTimeoutMillis: 3000 })
  try {
    await client.connect()
    await client.query('SELECT 1')
    return undefined
  } catch (error) {
    return `PostgreSQL is unreachable at ${url} (${(error as Error).message}); set DURABLY_TEST_POSTGRES_URL to run these tests`
  } finally {
    await client.end().catch(() => undefined)
  }
}

export async function createPostgresDatabase(url = POSTGRES_URL): Promise<
  TestDatabase & {
    schema: string
    url: string
    /** A `pg` pool on this database's schema, ended by `cleanup()` if the test did not. */
    pool(config?: import('pg').PoolConfig): import('pg').Pool
  }
> {
  const pg = (await import('pg')).default
  const { PostgresDialect } = await import('kysely')
  const schema = `durably_test_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const admin = new pg.Pool({ connectionString: url, max: 2 })
  await admin.query(`CREATE SCHEMA ${schema}`)
  const pools: InstanceType<typeof pg.Pool>[] = []
  const makePool = (config: import('pg').PoolConfig = {}) => {
    const pool = new pg.Pool({
      connectionString: url,
      options: `-c search_path=${schema}`,
      ...config,
      max: config.max ?? 5,
    })
    pools.push(pool)
    return pool
  }
  const raw = makePool()
  return {
    schema,
    url,
    dialect: new PostgresDialect({ pool: makePool() }),
    secondDialect: () => new PostgresDialect({ pool: makePool() }),
    pool: makePool,
    async exec(sqlText, args = []) {
      const result = await raw.query(sqlText, args as unknown[])
      return result.rows as Record<string, unknown>[]
    },
    async cleanup() {
      await Promise.all(pools.map((pool) => pool.end().catch(() => undefined)))
      await admin.query(`DROP SCHEMA ${schema} CASCADE`).catch(() => undefined)
      await admin.end()
    },
  }
}

const postgresUnavailable = await probePostgres()
if (postgresUnavailable) {
  if (process.env.CI === 'true') {
    throw new Error(`CI requires PostgreSQL: ${postgresUnavailable}`)
  }
  console.warn(`[durably tests] skipping PostgreSQL: ${postgresUnavailable}`)
}

export const postgresBackend: Backend = {
  name: 'postgres',
  family: 'postgres',
  ...(postgresUnavailable ? { unavailable: postgresUnavailable } : {}),
  create: () => createPostgresDatabase(),
}
