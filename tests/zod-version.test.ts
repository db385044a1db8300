/**
 * A zod 3 installed past the peer range (`npm i zod@3 --force`) is refused by `defineJob` with
 * a message naming the version, not left to fail later. zod 3 is not installed here: an
 * object with zod 3's marks (a `_def` with a `typeName`, the parse methods, no `_zod`) is what
 * the check reads, so it stands in for one.
 */
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { defineJob, InvalidArgumentError } from '../src/index.js'

/** What `z.object({ userId: z.string() })` from zod 3 looks like to durably. */
function zod3Object() {
  return {
    _def: { typeName: 'ZodObject', shape: () => ({}) },
    parse: (value: unknown) => value,
    safeParse: (value: unknown) => ({ success: true, data: value }),
    parseAsync: async (value: unknown) => value,
    safeParseAsync: async (value: unknown) => ({ success: true, data: value }),
  }
}

const define = (fields: Record<string, unknown>) =>
  defineJob({
    name: 'zod-check',
    input: z.object({}),
    run: async () => null,
    ...fields,
  } as Parameters<typeof defineJob>[0])

describe('defineJob and the zod version', () => {
  it('refuses a zod 3 input schema, saying zod 3 was given and zod 4 is needed', () => {
    const attempt = () => define({ input: zod3Object() })
    expect(attempt).toThrow(InvalidArgumentError)
    expect(attempt).toThrow(
      'defineJob: job "zod-check": "input" is a zod 3 schema (ZodObject): it has "_def" but no "_zod"; durably needs zod 4',
    )
  })

  it('refuses a zod 3 output schema the same way', () => {
    expect(() => define({ output: zod3Object() })).toThrow(/"output" is a zod 3 schema/)
  })

  it('names the version of a zod that stamps one but is not 4', () => {
    const zod5 = { ...z.string(), _zod: { version: { major: 5, minor: 1, patch: 0 } } }
    expect(() => define({ input: zod5 })).toThrow(
      /"input" is a zod 5\.1\.0 schema; durably needs zod 4/,
    )
  })

  it('accepts zod 4 schemas and validates with them', async () => {
    const job = define({
      input: z.object({ userId: z.string() }),
      output: z.object({ ok: z.boolean() }),
    })
    expect(job.name).toBe('zod-check')
    expect(job.input.safeParse({ userId: 'u_1' }).success).toBe(true)
  })

  it('leaves a value that is no schema at all to the shape check', () => {
    expect(() => define({ input: { parse: 1 } })).toThrow(/needs an "input" zod schema/)
  })
})
