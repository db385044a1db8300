import { defineContractSuite } from './contract/contract.js'
import { libsqlDatabaseBackend } from './support/libsql-database.js'

defineContractSuite(libsqlDatabaseBackend)
