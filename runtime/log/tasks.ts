/**
 * Tasks of a subscription (SubscribeOptions.copartitioned in index.ts): partition p of every topic
 * of a co-partitioned group is one task, named by the group's first topic and p; a topic in no
 * group makes one task per partition, named by itself. Both logs group their checkpoints by it.
 */
import { SluiceError } from '../errors.ts'
import type { SubscribeOptions } from './index.ts'

export interface TaskName {
  readonly topic: string
  readonly partition: number
}

export class Tasks {
  /** Topic → the first topic of its group (absent: the topic is in no group). */
  readonly #lead = new Map<string, string>()
  /** First topic of a group → the group's topics, in the order given. */
  readonly #members = new Map<string, readonly string[]>()

  private constructor(groups: readonly (readonly string[])[]) {
    for (const group of groups) {
      this.#members.set(group[0]!, group)
      for (const topic of group) this.#lead.set(topic, group[0]!)
    }
  }

  /**
   * The tasks of `options`, checked: each group names two or more distinct subscribed topics, a
   * topic is in at most one group, and `partitionCount` (called for grouped topics only) agrees
   * within a group. Rejects with LOG_INVALID_ARGUMENT.
   */
  static async of(
    options: Pick<SubscribeOptions, 'group' | 'topics' | 'copartitioned'>,
    partitionCount: (topic: string) => Promise<number>,
  ): Promise<Tasks> {
    const groups = options.copartitioned ?? []
    const subscribed = new Set(options.topics)
    const seen = new Set<string>()
    const invalid = (why: string) =>
      new SluiceError('LOG_INVALID_ARGUMENT', `subscribe(${options.group}): copartitioned ${why}`)
    for (const group of groups) {
      if (!Array.isArray(group) || new Set(group).size !== group.length || group.length < 2)
        throw invalid(`groups must name two or more distinct topics, got ${JSON.stringify(group)}`)
      for (const topic of group) {
        if (!subscribed.has(topic)) throw invalid(`names ${topic}, which is not one of the subscribed topics`)
        if (seen.has(topic)) throw invalid(`names ${topic} in two groups`)
        seen.add(topic)
      }
      const counts = await Promise.all(group.map((topic) => partitionCount(topic)))
      if (counts.some((c) => c !== counts[0])) {
        const listed = group.map((topic, i) => `${topic} has ${counts[i]}`).join(', ')
        throw invalid(
          `topics must have the same number of partitions, since partition p of each is processed together: ${listed}`,
        )
      }
    }
    return new Tasks(groups)
  }

  /** The task that `topic`'s partition `partition` belongs to. */
  of(topic: string, partition: number): TaskName {
    return { topic: this.#lead.get(topic) ?? topic, partition }
  }

  /** The topics whose partition p belongs to the task of `lead`'s partition p (just `lead` outside groups). */
  topicsOf(lead: string): readonly string[] {
    return this.#members.get(lead) ?? [lead]
  }

  /** Whether any group was given (a subscription without groups behaves exactly as before). */
  get grouped(): boolean {
    return this.#members.size > 0
  }
}

/** A map key for a task (or a partition). */
export function taskKey(task: TaskName): string {
  return `${task.partition}\u0000${task.topic}`
}
