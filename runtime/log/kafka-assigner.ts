/**
 * The consumer-group partition assigner of subscriptions with co-partitioned topics
 * (SubscribeOptions.copartitioned, docs/decisions/0020-joins-need-co-partitioned-tasks.md): a task
 * (partition p of every topic of a group) goes to one member as a whole, so the state a join
 * keeps for it, its offsets and its transaction stay together. Partitions of topics in no group are
 * tasks of one partition and are spread the same way.
 *
 * kafkajs runs the assigner on the group's leader, with the leader's subscribed topics; every
 * member of a group subscribes with the same topics and groups (one pipeline), and a member with
 * another assigner (a subscription without groups uses kafkajs's round robin) cannot join: the
 * broker refuses members that share no protocol (INCONSISTENT_GROUP_PROTOCOL).
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs'
import type { Tasks } from './tasks.ts'

/** The protocol name members announce; members of one group must all announce it. */
export const TASK_ASSIGNER = 'SluiceTasks'

/** A member of the group as the assignment sees it. */
export interface AssignableMember {
  readonly memberId: string
  /** The topics the member subscribes to. */
  readonly topics: readonly string[]
}

/** Topic → partitions, kafkajs's shape of one member's assignment. */
export type MemberPartitions = Record<string, number[]>

/**
 * Which partitions each member gets: every task whole, to the member that has the fewest tasks so
 * far among those subscribed to all of the task's topics (ties: the smallest member id), taking
 * the co-partitioned tasks first, then the rest, each in topic then partition order. With equal
 * subscriptions that is round robin over the tasks: deterministic, and no member holds more than
 * one task more than another, counting grouped tasks alone as well as all of them.
 *
 * `partitionCount` gives each topic's partitions as the cluster's metadata has them. A group whose
 * topics no longer agree (an admin added partitions to one) still assigns partition p of each
 * topic that has it together.
 */
export function assignTasks(
  members: readonly AssignableMember[],
  topics: readonly string[],
  partitionCount: (topic: string) => number,
  tasks: Tasks,
): Map<string, MemberPartitions> {
  const sorted = [...members].sort((x, y) => (x.memberId < y.memberId ? -1 : x.memberId > y.memberId ? 1 : 0))
  const assignment = new Map<string, MemberPartitions>(sorted.map((m) => [m.memberId, {}]))
  if (sorted.length === 0) return assignment
  const load = new Map<string, number>(sorted.map((m) => [m.memberId, 0]))
  const subscribed = new Map(sorted.map((m) => [m.memberId, new Set(m.topics)]))

  // One entry per task, named by its lead topic: a group's other topics come with their lead.
  const leads = [...new Set(topics.map((topic) => tasks.of(topic, 0).topic))].sort()
  const grouped = leads.filter((lead) => tasks.topicsOf(lead).length > 1)
  const single = leads.filter((lead) => tasks.topicsOf(lead).length === 1)
  for (const lead of [...grouped, ...single]) {
    const members = tasks.topicsOf(lead)
    const counts = members.map((topic) => partitionCount(topic))
    const partitions = Math.max(0, ...counts)
    for (let partition = 0; partition < partitions; partition++) {
      const present = members.filter((_, i) => partition < counts[i]!)
      const candidates = sorted.filter((m) =>
        present.every((topic) => subscribed.get(m.memberId)!.has(topic)),
      )
      // Nobody subscribes to all of them (members disagree on topics): the task still gets an owner.
      const pool = candidates.length > 0 ? candidates : sorted
      let owner = pool[0]!
      for (const m of pool) if (load.get(m.memberId)! < load.get(owner.memberId)!) owner = m
      load.set(owner.memberId, load.get(owner.memberId)! + 1)
      const owned = assignment.get(owner.memberId)!
      for (const topic of present) {
        let list = owned[topic]
        if (list === undefined) {
          list = []
          owned[topic] = list
        }
        list.push(partition)
      }
    }
  }
  return assignment
}

/** The kafkajs assigner of `tasks` (given as `partitionAssigners` to a subscription's consumer). */
export function taskAssigner(tasks: Tasks): PartitionAssigner {
  return ({ cluster }) => ({
    name: TASK_ASSIGNER,
    version: 0,
    async assign({ members, topics }) {
      const assignable = members.map(({ memberId, memberMetadata }) => ({
        memberId,
        topics: AssignerProtocol.MemberMetadata.decode(memberMetadata)?.topics ?? [],
      }))
      const assignment = assignTasks(
        assignable,
        topics,
        (topic) => cluster.findTopicPartitionMetadata(topic).length,
        tasks,
      )
      return [...assignment].map(([memberId, partitions]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: 0,
          assignment: partitions,
          userData: Buffer.alloc(0),
        }),
      }))
    },
    protocol({ topics }) {
      return {
        name: TASK_ASSIGNER,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
      }
    },
  })
}
