/**
 * PostgreSQL's claim on a table the planner knows nothing about: never analyzed, as a new
 * installation's table is until autovacuum gets to it. The claim must walk the claimable index
 * in order and stop at the first run it may take, not collect every pending run and sort them.
 * Checked on the plan's shape (which Sort reads how many rows), never on timings: as the
 * statement is sent today (planned with its values) and as a named prepared statement's
 * generic plan, which PostgreSQL settles on after five executions.
 */
import { type CompiledQuery, Kysely } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate } from '../../src/store/migrations.js'
import { postgresFamily } from '../../src/store/postgres-family.js'
import type { Database } from '../../src/store/schema.js'
import { createPostgresDatabase, postgresBackend } from '../support/postgres.js'

const PENDING = 20_000
const JOBS = ['job-0', 'job-1', 'job-2', 'job-3']

class RolledBack extends Error {
  constructor(readonly runId: string | undefined) {
    super('rolled back')
  }
}

/** A plan node of `EXPLAIN (FORMAT JSON)`, as far as these tests read it. */
interface PlanNode {
  'Node Type': string
  'Subplan Name'?: string
  'Index Name'?: string
  'Relation Name'?: string
  'Actual Rows'?: number
  Plans?: PlanNode[]
}

function nodes(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodes)]
}

/** How many rows each Sort node of the plan was given. */
function sortInputs(plan: PlanNode): number[] {
  return nodes(plan)
    .filter((node) => node['Node Type'] === 'Sort')
    .map((sort) =>
      (sort.Plans ?? []).reduce((rows, input) => rows + (input['Actual Rows'] ?? 0), 0),
    )
}

function expectIndexDriven(plan: PlanNode) {
  // No Sort is given the pending runs: what the claim sorts is a CTE's result, a row each.
  expect(
    sortInputs(plan).filter((rows) => rows >= 10),
    'rows sorted',
  ).toEqual([])
  // The plain runs' branch reads the claimable index in due order and stops at the first.
  const plain = nodes(plan).find((node) => node['Subplan Name'] === 'CTE plain')
  expect(plain, 'the claim has a CTE plain').toBeDefined()
  const inPlain = nodes(plain as PlanNode)
  expect(inPlain.map((node) => node['Node Type'])).not.toContain('Sort')
  expect(inPlain).toContainEqual(
    expect.objectContaining({ 'Node Type': 'Index Scan', 'Index Name': 'durably_runs_claimable' }),
  )
}

describe.skipIf(postgresBackend.unavailable)('PostgreSQL claim plan without statistics', () => {
  let database: Awaited<ReturnType<typeof createPostgresDatabase>>
  let db: Kysely<Database>
  let client: pg.Client
  let claim: CompiledQuery

  beforeAll(async () => {
    database = await createPostgresDatabase()
    const claims: CompiledQuery[] = []
    db = new Kysely<Database>({
      dialect: database.dialect,
      log: (event) => {
        if (event.level === 'query' && /\bWITH stale AS\b/.test(event.query.sql)) {
          claims.push(event.query)
        }
      },
    })
    await migrate(db, postgresFamily)
    // Autovacuum would analyze the table after this many inserts; the test is of a table it has
    // not reached yet.
    await database.exec('ALTER TABLE durably_runs SET (autovacuum_enabled = false)')
    await database.exec(
      `INSERT INTO durably_runs (id, job_name, payload, status, created_at, updated_at, available_at)
       SELECT 'run-' || lpad(i::text, 6, '0'), 'job-' || (i % 4), '{}'::json, 'pending',
              t, t, t
       FROM generate_series(1, $1::int) AS i, LATERAL (SELECT now() - make_interval(secs => $1 - i)) AS at(t)`,
      [PENDING],
    )
    // One claim, for its text and values, rolled back: every run stays pending.
    const now = new Date().toISOString()
    const claimed = await db
      .transaction()
      .execute(async (trx) => {
        const run = await postgresFamily.claimNextRun(trx, {
          owner: 'plan-test',
          jobNames: JOBS,
          now,
          staleBefore: new Date(Date.parse(now) - 30_000).toISOString(),
          staleThreshold: 30_000,
        })
        throw new RolledBack(run?.id)
      })
      .catch((error: unknown) => {
        if (error instanceof RolledBack) return error.runId
        throw error
      })
    expect(claimed).toBe('run-000001')
    expect(claims).toHaveLength(1)
    claim = claims[0] as CompiledQuery
    client = new pg.Client({
      connectionString: database.url,
      options: `-c search_path=${database.schema}`,
    })
    await client.connect()
  })

  afterAll(async () => {
    await client?.end()
    await db?.destroy()
    await database?.cleanup()
  })

  /** The plan of `text` as it ran, the claim it made rolled back. */
  async function explain(text: string, values: readonly unknown[] = []): Promise<PlanNode> {
    await client.query('BEGIN')
    try {
      const result = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${text}`, [...values])
      const [explained] = result.rows[0]['QUERY PLAN'] as { Plan: PlanNode }[]
      return (explained as { Plan: PlanNode }).Plan
    } finally {
      await client.query('ROLLBACK')
    }
  }

  it('runs on a table never analyzed', async () => {
    const [table] = await database.exec(
      `SELECT reltuples FROM pg_class WHERE oid = 'durably_runs'::regclass`,
    )
    expect(Number(table?.reltuples)).toBe(-1)
  })

  it('walks the claimable index with the values planned in', async () => {
    const plan = await explain(claim.sql, claim.parameters)
    expect(nodes(plan).find((node) => node['Subplan Name'] === 'CTE plain')).toMatchObject({
      'Actual Rows': 1,
    })
    expectIndexDriven(plan)
  })

  it('walks the claimable index in the generic plan of a prepared statement', async () => {
    await client.query('SET plan_cache_mode = force_generic_plan')
    await client.query(`PREPARE claim_plan AS ${claim.sql}`)
    try {
      // EXECUTE takes no bound parameters: the values go in as literals.
      const literal = (value: unknown): string =>
        Array.isArray(value)
          ? `ARRAY[${value.map(literal).join(', ')}]`
          : typeof value === 'number'
            ? String(value)
            : client.escapeLiteral(String(value))
      const plan = await explain(`EXECUTE claim_plan(${claim.parameters.map(literal).join(', ')})`)
      expectIndexDriven(plan)
    } finally {
      await client.query('DEALLOCATE claim_plan')
      await client.query('RESET plan_cache_mode')
    }
  })
})
