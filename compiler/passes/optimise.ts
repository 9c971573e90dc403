import type { Pipeline } from '../ir/types.ts'
import { dropIdentityProjections } from './drop-identity-projections.ts'
import { fuseStatelessChains } from './fuse-stateless-chains.ts'
import { pushFiltersTowardSource } from './push-filters-toward-source.ts'

/** The optimiser: the passes in the order they must run (fusion last: it hides the operators). */
export const PASSES: readonly { readonly name: string; readonly run: (pipeline: Pipeline) => Pipeline }[] = [
  { name: 'drop-identity-projections', run: dropIdentityProjections },
  { name: 'push-filters-toward-source', run: pushFiltersTowardSource },
  { name: 'fuse-stateless-chains', run: fuseStatelessChains },
]

export function optimise(pipeline: Pipeline): Pipeline {
  return PASSES.reduce((ir, pass) => pass.run(ir), pipeline)
}
