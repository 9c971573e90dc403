/** "Did you mean …?" for unknown names: the closest candidate by edit distance, if it is close enough to be a likely typo. */

/**
 * Optimal-string-alignment distance: insertions, deletions, substitutions and transpositions of
 * neighbours each cost 1, so the common typo `kafak` is one edit from `kafka`.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0
  let beforePrevious: number[] = []
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let best = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (beforePrevious[j - 2] ?? 0) + 1)
      }
      current.push(best)
    }
    beforePrevious = previous
    previous = current
  }
  return previous[b.length] ?? 0
}

/**
 * The candidate closest to `name`, or null when none is within a third of the name's length
 * (at least one edit). A case-only difference always wins. Ties keep the earlier candidate, so
 * callers list candidates in a meaningful order (declaration order).
 */
export function suggest(name: string, candidates: Iterable<string>): string | null {
  const lower = name.toLowerCase()
  const limit = Math.max(1, Math.floor(name.length / 3))
  let best: string | null = null
  let bestDistance = Number.POSITIVE_INFINITY
  for (const candidate of candidates) {
    if (candidate === name) continue
    const distance = candidate.toLowerCase() === lower ? 0 : editDistance(name, candidate)
    if (distance <= limit && distance < bestDistance && distance < Math.max(name.length, candidate.length)) {
      best = candidate
      bestDistance = distance
    }
  }
  return best
}

/** `; did you mean `x`?` or the empty string, to append to a message. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const s = suggest(name, candidates)
  return s === null ? '' : `; did you mean \`${s}\`?`
}
