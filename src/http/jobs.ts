/**
 * `GET /jobs`, the dashboard's view of the registered jobs: each job's name, whether it may be
 * triggered over HTTP, its input schema as JSON Schema (for the trigger form) and its
 * schedule's next ticks. Input is still validated by the job's own zod schema on trigger;
 * the JSON Schema only helps a person write it.
 */
import { toJSONSchema, type ZodType } from 'zod'
import type { DurablyLike, JobDescription } from './types.js'

/** How many upcoming ticks a schedule shows. */
const UPCOMING_TICKS = 5

export function describeJobs(
  durably: Pick<DurablyLike, 'jobs' | 'getSchedules'>,
  mayTrigger: (jobName: string) => boolean,
): JobDescription[] {
  const schedules = new Map(durably.getSchedules().map((info) => [info.jobName, info]))
  const byName = new Map<string, unknown>()
  for (const handle of Object.values(durably.jobs as Record<string, { readonly name: string }>)) {
    if (!byName.has(handle.name)) byName.set(handle.name, handle)
  }
  return [...byName].map(([name, handle]) => {
    const schedule = schedules.get(name)
    return {
      name,
      triggerable: mayTrigger(name),
      inputSchema: jsonSchemaOf(handle),
      schedule: schedule
        ? {
            cron: schedule.cron,
            timezone: schedule.timezone,
            upcoming: schedule.upcoming.slice(0, UPCOMING_TICKS),
          }
        : null,
    }
  })
}

/**
 * The JSON Schema of a handle's input (`handle.input`, or `inputSchema` on a look-alike). A
 * schema zod cannot express gets null, and the form still works, with zod's issues from
 * `POST /trigger` as its only guide.
 */
function jsonSchemaOf(handle: unknown): Record<string, unknown> | null {
  const carrier = handle as { input?: unknown; inputSchema?: unknown }
  const schema = isZodSchema(carrier.input)
    ? carrier.input
    : isZodSchema(carrier.inputSchema)
      ? carrier.inputSchema
      : undefined
  if (!schema) return null
  try {
    return toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>
  } catch {
    // A schema zod cannot express as JSON Schema (a cycle, say): the form goes without.
    return null
  }
}

function isZodSchema(value: unknown): value is ZodType {
  return typeof value === 'object' && value !== null && '_zod' in value
}
