import { defineContractSuite } from './contract/contract.js'
import { libsqlBackend } from './support/backends.js'

defineContractSuite(libsqlBackend)
