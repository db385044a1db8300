import { SQLocal } from 'sqlocal'
import { expect, it } from 'vitest'
import { defineContractSuite } from '../contract/contract.js'
import { sqlocalBackend } from './sqlocal-backend.js'

it('runs on OPFS, not on the in-memory fallback SQLocal uses when OPFS is unavailable', async () => {
  const client = new SQLocal(`durably-probe-${Date.now()}.sqlite3`)
  try {
    expect((await client.getDatabaseInfo()).storageType).toBe('opfs')
  } finally {
    await client.deleteDatabaseFile()
    await client.destroy()
  }
})

defineContractSuite(sqlocalBackend)
