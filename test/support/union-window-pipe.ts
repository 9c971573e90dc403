/**
 * The pipeline of the properties of windows over a union of several sources (runtime/window/
 * union-*.property.test.ts): `union north, south` of two sources of `E { id, k, ts }` whose
 * watermarks trail by 1 s and 3 s, then `where id >= 0` and a window by `k` writing `out`, with
 * its late events (`late into late_events`, written to `late`) unless the window takes none.
 */
export function unionWindowPipe(window: string, fields: string, late: boolean): string {
  return `
schema E { id: i64, k: string, ts: timestamp @event_time }
source north: E from kafka("north") watermark ts - 1s
source south: E from kafka("south") watermark ts - 3s
stream u = union north, south
stream w = u
  | where id >= 0
  | aggregate by k window ${window}${late ? ' late into late_events' : ''} { ${fields} }
sink w -> kafka("out")
${late ? 'sink late_events -> kafka("late")' : ''}
`
}
