/**
 * The brute-force CEP reference matcher, for the engine properties and their generators. It lives
 * in compiler/ir/cep-semantics.ts because the reference interpreter runs `match` steps with it
 * (production code does not import test/support); this module keeps the tests' import path.
 */
export * from '../../compiler/ir/cep-semantics.ts'
