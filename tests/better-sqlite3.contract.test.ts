import { defineContractSuite } from './contract/contract.js'
import { betterSqlite3Backend } from './support/better-sqlite3.js'

defineContractSuite(betterSqlite3Backend)
