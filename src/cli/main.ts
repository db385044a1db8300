#!/usr/bin/env node
/**
 * The `durably` command: look at and administer the runs of an existing durably database
 * without the app's code. Arguments are parsed by Node's own `util.parseArgs`.
 *
 *   durably dashboard --db <url> [--port <n>]
 *   durably runs --db <url> [--status <s>] [--job <name>] [--limit <n>] [--offset <n>] [--json]
 *   durably run <id> --db <url> [--json]
 *   durably retry <id> --db <url> [--json]
 *   durably cancel <id> --db <url> [--json]
 *
 * Every failure is one line on stderr and exit code 1.
 */
import { parseArgs } from 'node:util'
import { isDurablyError, RUN_STATUSES, type RunStatus } from '../index.js'
import { runReport, runsTable } from './format.js'
import { CliError, firstLine, openDatabase } from './open.js'
import { serveDashboard } from './serve.js'

const USAGE = `Usage: durably <command> --db <url> [options]

Commands:
  dashboard            serve the dashboard on 127.0.0.1 (--port, default 4411; 0 picks one)
  runs                 list runs, newest first (--status, --job, --limit, --offset)
  run <id>             one run with its steps and logs
  retry <id>           send a failed or cancelled run back to the queue
  cancel <id>          cancel a pending or running run

Options:
  --db <url>           file:local.db, a path, libsql://…, or postgres://… (or DURABLY_DB)
  --json               print JSON instead of tables
  -h, --help           show this help

The database must already hold durably's tables: the CLI never creates them.`

const OPTIONS = {
  db: { type: 'string' },
  json: { type: 'boolean', default: false },
  status: { type: 'string' },
  job: { type: 'string' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  port: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const

const COMMANDS = ['dashboard', 'runs', 'run', 'retry', 'cancel'] as const
type Command = (typeof COMMANDS)[number]

async function main(argv: string[]): Promise<void> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (error) {
    // parseArgs explains at length; its first sentence names the problem.
    const problem = firstLine(error).split('. ')[0]
    throw new CliError(`${problem} (durably --help lists the options)`)
  }
  const { values, positionals } = parsed
  const [command, ...rest] = positionals
  if (values.help || command === undefined || command === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return
  }
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw new CliError(`unknown command "${command}" (one of ${COMMANDS.join(', ')})`)
  }
  const needsId = command === 'run' || command === 'retry' || command === 'cancel'
  if (needsId && rest.length !== 1) throw new CliError(`${command} takes one run id`)
  if (!needsId && rest.length > 0) throw new CliError(`${command} takes no argument "${rest[0]}"`)
  const status = values.status
  if (status !== undefined && !(RUN_STATUSES as readonly string[]).includes(status)) {
    throw new CliError(`--status must be one of ${RUN_STATUSES.join(', ')}`)
  }
  const limit = count(values.limit, '--limit', 1)
  const offset = count(values.offset, '--offset', 0)
  const port = count(values.port, '--port', 0) ?? 4411
  const url = values.db ?? process.env.DURABLY_DB
  if (!url) throw new CliError('--db <url> is required (or set DURABLY_DB)')

  const { durably } = await openDatabase(url)
  const print = (json: unknown, text: string) =>
    process.stdout.write(`${values.json ? JSON.stringify(json, null, 2) : text}\n`)
  try {
    switch (command as Command) {
      case 'dashboard': {
        const server = await serveDashboard(durably, port)
        process.stdout.write(`durably dashboard: ${server.url}\n`)
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve)
          process.once('SIGTERM', resolve)
        })
        await server.close()
        return
      }
      case 'runs': {
        const runs = await durably.getRuns({
          ...(status ? { status: status as RunStatus } : {}),
          ...(values.job ? { jobName: values.job } : {}),
          limit: limit ?? 20,
          ...(offset !== undefined ? { offset } : {}),
        })
        print(runs, runsTable(runs))
        return
      }
      case 'run': {
        const id = rest[0]!
        const run = await durably.getRun(id)
        if (!run) throw new CliError(`no run with id ${id}`)
        const [steps, logs] = await Promise.all([durably.getSteps(id), durably.getLogs(id)])
        print({ run, steps, logs }, runReport(run, steps, logs))
        return
      }
      case 'retry':
      case 'cancel': {
        const id = rest[0]!
        if (command === 'retry') await durably.retry(id)
        else await durably.cancel(id)
        const run = await durably.getRun(id)
        const done = command === 'retry' ? 'sent back to the queue' : 'cancelled'
        print({ runId: id, status: run?.status ?? null }, `Run ${id} ${done} (now ${run?.status}).`)
        return
      }
    }
  } finally {
    await durably.destroy()
  }
}

function count(raw: string | undefined, name: string, min: number): number | undefined {
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min) {
    throw new CliError(`${name} must be a whole number from ${min}`)
  }
  return value
}

main(process.argv.slice(2)).catch((error: unknown) => {
  // One line: ours, or a durably error's message (`retry: run … is completed; …`).
  const message =
    error instanceof CliError || isDurablyError(error) ? error.message : firstLine(error)
  process.stderr.write(`durably: ${message}\n`)
  process.exitCode = 1
})
