/**
 * PostgreSQL's claim on a table the planner knows nothing about: never analyzed, as a new
 * installation's table is until autovacuum gets to it. The claim must walk the claimable index
 * in order and stop at the first run it may take, not collect every pending run and sort them.
 * Checked on the plan's shape (which Sort reads how many rows), never on timings: as the
 * statement is sent today (planned with its values) and as a named prepared statement's
 * generic plan, which PostgreSQL settles on after five executions. The claim takes its
 * run from `durably_claim_candidate`, whose statements are planned with the settings the
 * function declares; they are explained here under the same settings.
 */
import { type CompiledQuery, Kysely, sql } from 'kysely'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { migrate } from '../../src/store/migrations.js'
import {
  CANDIDATE_SETTINGS,
  candidateStatements,
} from '../../src/store/postgres-claim-candidate.js'
import { postgresFamily } from '../../src/store/postgres-family.js'
import type { Database } from '../../src/store/schema.js'
import { createPostgresDatabase, postgresBackend } from '../support/postgres.js'

/**
 * How many runs are pending. The plan the planner prefers depends on how big it guesses the
 * table is: beside 8,000 pending runs it collected and sorted all of them (a bitmap of the
 * claimable index) until the claim took its candidates from a function planned without that.
 */
const BACKLOGS = [2_000, 8_000, 20_000]
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

/** A candidate's plan: no Sort is given the runs, and `index` is walked in order. */
function expectIndexDriven(plan: PlanNode, index: string) {
  expect(
    sortInputs(plan).filter((rows) => rows >= 10),
    'rows sorted',
  ).toEqual([])
  const kinds = nodes(plan).map((node) => node['Node Type'])
  expect(kinds).not.toContain('Bitmap Heap Scan')
  expect(nodes(plan)).toContainEqual(
    expect.objectContaining({ 'Node Type': 'Index Scan', 'Index Name': index }),
  )
}

describe.skipIf(postgresBackend.unavailable).each(BACKLOGS)(
  'PostgreSQL claim plan without statistics, %i runs pending',
  (PENDING) => {
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
          if (event.level === 'query' && /\bFROM durably_claim_candidate\(/.test(event.query.sql)) {
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

    /**
     * The plan of `text` as it ran, what it did rolled back: under `settings` (SET LOCAL), and
     * as the prepared statement `name` when one is given.
     */
    async function explain(
      text: string,
      values: readonly unknown[] = [],
      { settings = {}, name }: { settings?: Record<string, string>; name?: string } = {},
    ): Promise<PlanNode> {
      await client.query('BEGIN')
      try {
        for (const [setting, value] of Object.entries(settings)) {
          await client.query(`SET LOCAL ${setting} = ${value}`)
        }
        const result = await client.query({
          name,
          text: `EXPLAIN (ANALYZE, FORMAT JSON) ${text}`,
          values: [...values],
        })
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

    it('sorts no pending runs in the claim, with its values planned in', async () => {
      const plan = await explain(claim.sql, claim.parameters)
      expect(sortInputs(plan).filter((rows) => rows >= 10)).toEqual([])
      expect(nodes(plan).map((node) => node['Node Type'])).not.toContain('Bitmap Heap Scan')
    })

    it('takes its run from durably_claim_candidate, planned without bitmaps or sorts', async () => {
      expect(claim.sql).toMatch(/\bdurably_claim_candidate\(/)
      const [fn] = await database.exec(
        `SELECT proconfig FROM pg_proc WHERE proname = 'durably_claim_candidate'
           AND pronamespace = $1::regnamespace`,
        [database.schema],
      )
      expect(fn?.proconfig).toEqual(
        Object.entries(CANDIDATE_SETTINGS).map(([name, value]) => `${name}=${value}`),
      )
    })

    /** The function's statements, with their values as parameters, and those values. */
    function candidate(kind: 'abandoned' | 'plain' | 'ranked'): {
      text: string
      values: unknown[]
    } {
      const now = new Date().toISOString()
      if (kind === 'abandoned') {
        const { abandoned } = candidateStatements({
          jobNames: sql.raw('$1::text[]'),
          now: sql.raw('NULL::timestamptz'),
          staleSeconds: sql.raw('$2::float8'),
          excluded: sql.raw('$3::text'),
        })
        return { text: abandoned.compile(db).sql, values: [JOBS, 30, null] }
      }
      const statements = candidateStatements({
        jobNames: sql.raw('$1::text[]'),
        now: sql.raw('$2::timestamptz'),
        staleSeconds: sql.raw('NULL::float8'),
        excluded: sql.raw('NULL::text'),
      })
      return { text: statements[kind].compile(db).sql, values: [JOBS, now] }
    }

    /** A statement of the function as it plans it: with its values, or as a generic plan. */
    async function explainCandidate(
      kind: 'abandoned' | 'plain' | 'ranked',
      generic: boolean,
    ): Promise<PlanNode> {
      const { text, values } = candidate(kind)
      // A generic plan is a prepared statement's, when forced to be.
      return generic
        ? explain(text, values, {
            settings: { ...CANDIDATE_SETTINGS, plan_cache_mode: 'force_generic_plan' },
            name: `candidate_${kind}_generic`,
          })
        : explain(text, values, { settings: CANDIDATE_SETTINGS })
    }

    it('walks the claimable index to the first plain run with the values planned in', async () => {
      const plan = await explainCandidate('plain', false)
      expect(plan['Actual Rows']).toBe(1)
      expectIndexDriven(plan, 'durably_runs_claimable')
    })

    it('walks the claimable index to the first plain run in a generic plan', async () => {
      expectIndexDriven(await explainCandidate('plain', true), 'durably_runs_claimable')
    })

    it('walks the ranked index to the first ranked run, none pending', async () => {
      const plan = await explainCandidate('ranked', true)
      expect(plan['Actual Rows']).toBe(0)
      expectIndexDriven(plan, 'durably_runs_ranked')
    })

    it('looks for an abandoned run through the index of running runs by heartbeat', async () => {
      const plan = await explainCandidate('abandoned', true)
      expect(plan['Actual Rows']).toBe(0)
      expectIndexDriven(plan, 'durably_runs_status_heartbeat')
    })
  },
)
