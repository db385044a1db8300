/**
 * createDurablyHooks checks its options once, where the hooks are created (module level),
 * so a mistake never surfaces later inside a render.
 */
import { describe, expect, it } from 'vitest'
import { InvalidArgumentError } from '../../src/index.js'
import { createDurablyHooks } from '../../src/react/index.js'

type Options = Parameters<typeof createDurablyHooks>[0]
const create = (options: unknown) => () => createDurablyHooks(options as Options)

describe('createDurablyHooks options', () => {
  it('refuses an option it does not know, naming the known ones', () => {
    expect(create({ api: '/api/durably', retries: 3 })).toThrow(
      /unknown option "retries" \(known: api, headers, fetch, reconnect\)/,
    )
  })

  it('refuses neither api nor durably', () => {
    expect(create({})).toThrow(InvalidArgumentError)
  })

  it('refuses an api that is not a non-empty string', () => {
    expect(create({ api: '' })).toThrow(/api must be the path/)
  })

  it('refuses a durably that is no instance', () => {
    expect(create({ durably: {} })).toThrow(/durably must be a durably instance/)
  })

  it('refuses api and durably together', () => {
    expect(create({ durably: {}, api: '/api/durably' })).toThrow(/unknown option "api"/)
  })
})
