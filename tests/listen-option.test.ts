import { describe, expect, it } from 'vitest'
import { createDurably, InvalidArgumentError } from '../src/index.js'
import { libsqlBackend } from './support/backends.js'

describe('createDurably({ listen })', () => {
  it('rejects listen with a SQLite dialect, since LISTEN/NOTIFY is PostgreSQL-only', async () => {
    const database = await libsqlBackend.create()
    try {
      const pool = { connect: async () => ({}), on: () => undefined }
      expect(() => createDurably({ dialect: database.dialect, listen: pool as never })).toThrow(
        InvalidArgumentError,
      )
    } finally {
      await database.cleanup()
    }
  })

  it('accepts listen: false with a SQLite dialect, where there is nothing to turn off', async () => {
    const database = await libsqlBackend.create()
    try {
      const durably = createDurably({ dialect: database.dialect, listen: false })
      await durably.destroy()
    } finally {
      await database.cleanup()
    }
  })

  it('rejects a listen value that is not a pool', async () => {
    const database = await libsqlBackend.create()
    try {
      expect(() =>
        createDurably({ dialect: database.dialect, listen: 'postgres://x' as never }),
      ).toThrow(/must be a pg Pool \(an object with connect\(\)\) or false/)
    } finally {
      await database.cleanup()
    }
  })
})
