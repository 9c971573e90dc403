/**
 * `*` in a `select` (specs/language.md, "Projection with `*`"): expands `* except (…) rename (…)`
 * into the plain fields it stands for, `name: name` per field of the input in order (renamed ones
 * `new: old`), so the rest of the checker sees an ordinary field list. Names that collide with a
 * field of `*` are reported here, each once, with how to resolve it (E0220); names in `except` or
 * `rename` that are not fields of the input are E0221.
 */
import type { RelatedInformation } from '../diagnostics/diagnostic.ts'
import type { RecordType, Span } from '../ir/types.ts'
import type { AllFields, FieldInit, Identifier, SelectItem } from '../parse/ast.ts'
import { didYouMean } from './suggest.ts'

export interface SelectAllContext {
  /** The record the `select` reads. */
  readonly input: RecordType
  /** Whether the input's type is known (no error upstream): otherwise `*` expands to nothing, silently. */
  readonly inputKnown: boolean
  readonly report: (
    code: 'E0220' | 'E0221',
    message: string,
    span: Span,
    related?: readonly RelatedInformation[],
  ) => void
}

/** The field a shorthand or named field init defines, as the checker names it. */
function initName(init: FieldInit): { name: string; span: Span } {
  if (init.name !== null) return { name: init.name.name, span: init.name.span }
  if (init.value.kind === 'Member') return { name: init.value.name.name, span: init.value.name.span }
  return { name: init.value.kind === 'Name' ? init.value.name : '', span: init.value.span }
}

/**
 * The select's fields with every `*` expanded; a field that repeats a name of `*` (either way
 * round) is reported and left out, so it is not reported again as an ordinary duplicate.
 */
export function expandSelectItems(items: readonly SelectItem[], ctx: SelectAllContext): FieldInit[] {
  const stars = items.filter((item): item is AllFields => item.kind === 'AllFields')
  if (stars.length === 0) return items as FieldInit[]
  for (const extra of stars.slice(1)) {
    ctx.report(
      'E0220',
      '`*` is already in this `select`: every field of the input would be there twice',
      extra.span,
      [{ message: 'first `*` here', span: stars[0]!.span }],
    )
  }
  const star = stars[0]!
  const expanded = ctx.inputKnown ? expandStar(star, ctx) : []
  const starNames = new Map(expanded.map((f) => [initName(f).name, f] as const))
  const out: FieldInit[] = []
  for (const item of items) {
    if (item.kind === 'AllFields') {
      if (item === star) out.push(...expanded)
      continue
    }
    const { name, span } = initName(item)
    const clash = starNames.get(name)
    if (clash !== undefined) {
      ctx.report(
        'E0220',
        `field \`${name}\` is already one of the fields of \`*\`; to replace it, leave it out with \`* except (${name})\`, or give this field another name`,
        span,
        [{ message: '`*` gives this field', span: star.span }],
      )
      continue
    }
    out.push(item)
  }
  return out
}

function expandStar(star: AllFields, ctx: SelectAllContext): FieldInit[] {
  const fieldNames = ctx.input.fields.map((f) => f.name)
  const known = (id: Identifier, list: string): boolean => {
    if (fieldNames.includes(id.name)) return true
    ctx.report(
      'E0221',
      `\`${id.name}\` in \`${list}\` is not a field of the input${didYouMean(id.name, fieldNames)}`,
      id.span,
    )
    return false
  }
  const excluded = new Map<string, Identifier>()
  for (const id of star.except) {
    if (!known(id, 'except')) continue
    const first = excluded.get(id.name)
    if (first !== undefined) {
      ctx.report('E0221', `\`${id.name}\` is named twice in \`except\``, id.span, [
        { message: 'first named here', span: first.span },
      ])
    }
    excluded.set(id.name, id)
  }
  const renamed = new Map<string, Identifier>()
  for (const rename of star.renames) {
    if (!known(rename.from, 'rename')) continue
    if (excluded.has(rename.from.name)) {
      ctx.report(
        'E0221',
        `\`${rename.from.name}\` is left out by \`except\`, so it cannot be renamed`,
        rename.from.span,
      )
      continue
    }
    if (renamed.has(rename.from.name)) {
      ctx.report('E0221', `\`${rename.from.name}\` is renamed twice`, rename.from.span)
      continue
    }
    renamed.set(rename.from.name, rename.to)
  }
  const fields: FieldInit[] = []
  const given = new Map<string, Span>()
  for (const name of fieldNames) {
    if (excluded.has(name)) continue
    const to = renamed.get(name)
    const span = to?.span ?? star.span
    const first = given.get(to?.name ?? name)
    if (first !== undefined) {
      // Only a rename can collide: the input's own names are distinct.
      ctx.report(
        'E0220',
        `renaming gives two fields \`${to?.name ?? name}\`; leave one out with \`except\` or choose another name`,
        span,
        [{ message: 'the other one', span: first }],
      )
      continue
    }
    given.set(to?.name ?? name, span)
    fields.push({
      kind: 'FieldInit',
      name: { kind: 'Identifier', name: to?.name ?? name, span },
      value: { kind: 'Name', name, span },
      span,
    })
  }
  return fields
}
