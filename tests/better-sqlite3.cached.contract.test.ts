import { defineContractSuite } from './contract/contract.js'
import { betterSqlite3CachedBackend } from './support/better-sqlite3.js'

defineContractSuite(betterSqlite3CachedBackend)
