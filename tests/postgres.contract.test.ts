import { defineContractSuite } from './contract/contract.js'
import { postgresBackend } from './support/postgres.js'

defineContractSuite(postgresBackend)
