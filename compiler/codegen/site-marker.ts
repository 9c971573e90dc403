/**
 * The marker code generation puts before the code of each site (a span of the `.pipe`), from which
 * the packager builds the source map (compiler/artifact/source-map.ts). `/*!` makes it a comment
 * the transpiler keeps (esbuild keeps "legal comments" where they stand).
 */
export function siteMarker(site: number | 'N' | 'end'): string {
  return `/*! @pipe:${site} */`
}

/** A marker in a line of the transpiled module: group 1 is the site index, or `end`. */
export const SITE_MARKER = /\/\*! @pipe:(\d+|end) \*\//
