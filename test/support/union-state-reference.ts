/**
 * A brute-force reference for `union a, b | dedup by id within W | aggregate by card { n: count(),
 * total: sum(amount) }` over two co-partitioned topics (docs/decisions/0036), for events that no
 * expiry touches (all within W of each other): the node reads the two topics' partitions p as one
 * task in an order of its own, so which copy of a repeated id is kept, and the order of a card's
 * rows, depend on that interleaving. What does not: every id is counted once, on its card, by a
 * row whose n is one more than the row before it; and the ids that only one topic carries come in
 * that topic's order (each topic's partition is read in offset order).
 *
 * Each id carries one card and one amount, distinct across ids, so a row's amount (its total less
 * the one before) names the id it counted.
 */
export interface UnionEvent {
  readonly id: string
  readonly card: string
  readonly amount: number
  readonly ts: number
}

export interface UnionCountRow {
  readonly card: string
  readonly n: number
  readonly total: number
}

/** What is wrong with `rows` (the output topic, partition by partition in offset order); [] if nothing. */
export function unionCountProblems(
  inputs: Readonly<Record<string, readonly UnionEvent[]>>,
  rows: readonly UnionCountRow[],
): string[] {
  const problems: string[] = []
  const idOfAmount = new Map<number, string>()
  const cardOfId = new Map<string, string>()
  const topicsOfId = new Map<string, Set<string>>()
  for (const [topic, events] of Object.entries(inputs)) {
    for (const e of events) {
      idOfAmount.set(e.amount, e.id)
      cardOfId.set(e.id, e.card)
      const topics = topicsOfId.get(e.id) ?? new Set<string>()
      topics.add(topic)
      topicsOfId.set(e.id, topics)
    }
  }
  const byCard = new Map<string, UnionCountRow[]>()
  for (const row of rows) byCard.set(row.card, [...(byCard.get(row.card) ?? []), row])
  const counted = new Map<string, string[]>()
  for (const [card, list] of byCard) {
    const ids: string[] = []
    list.forEach((row, i) => {
      const before = list[i - 1] ?? { n: 0, total: 0 }
      if (row.n !== before.n + 1) problems.push(`card ${card}: row ${i} has n ${row.n} after ${before.n}`)
      const id = idOfAmount.get(row.total - before.total)
      if (id === undefined || cardOfId.get(id) !== card)
        problems.push(
          `card ${card}: row ${i} adds ${row.total - before.total}, the amount of no id of the card`,
        )
      else ids.push(id)
    })
    counted.set(card, ids)
  }
  for (const [id, card] of cardOfId) {
    const times = (counted.get(card) ?? []).filter((each) => each === id).length
    if (times !== 1) problems.push(`id ${id} (card ${card}) counted ${times} times`)
  }
  for (const [topic, events] of Object.entries(inputs)) {
    for (const [card, ids] of counted) {
      const own = (list: readonly string[]) =>
        list.filter((id) => topicsOfId.get(id)?.size === 1 && topicsOfId.get(id)?.has(topic))
      const expected = [...new Set(own(events.filter((e) => e.card === card).map((e) => e.id)))]
      const got = own(ids)
      if (JSON.stringify(got) !== JSON.stringify(expected))
        problems.push(`card ${card}: the ids only ${topic} carries came as ${got}, in ${topic} ${expected}`)
    }
  }
  return problems
}
