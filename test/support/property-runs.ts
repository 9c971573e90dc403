/**
 * fc.assert parameters from the environment, for properties whose failures are replayed by hand:
 * SLUICE_PROPERTY_SEED=<seed> SLUICE_PROPERTY_PATH=<path> replay the failure fast-check reported,
 * SLUICE_PROPERTY_RUNS=<runs> runs more (or fewer) examples than the property's default.
 */
import type fc from 'fast-check'

/** The seed and path of a failure to replay, when given. */
export function replayFromEnv(): Pick<fc.Parameters, 'seed' | 'path'> {
  const { SLUICE_PROPERTY_SEED: seed, SLUICE_PROPERTY_PATH: path } = process.env
  return { ...(seed ? { seed: Number(seed) } : {}), ...(path ? { path } : {}) }
}

/** SLUICE_PROPERTY_RUNS examples (else `defaultRuns`), with the replay of a failure. */
export function propertyRuns(
  defaultRuns: number,
): { readonly numRuns: number } & Pick<fc.Parameters, 'seed' | 'path'> {
  return { numRuns: Number(process.env.SLUICE_PROPERTY_RUNS ?? defaultRuns), ...replayFromEnv() }
}
