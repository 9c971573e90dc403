/**
 * Handing a restarted node its partitions at once (docs/decisions/0025-kafka-instance-handover.md).
 *
 * A node killed without leaving its consumer group stays a member until its session times out
 * (6 s at least: the broker's group.min.session.timeout.ms), and no rebalance can finish before
 * then: its successor waits that long for the partitions. Kafka's answer is static membership
 * (KIP-345: group.instance.id), which kafkajs does not implement. Sluice does the part that matters
 * for a restart: a node started with an instance id (`sluice run --node-id`) joins its groups as
 * client `<client id>.<instance id>`, and before joining it asks the group coordinator to remove
 * members of that client id: its own previous incarnation, dead but not yet timed out. The group
 * then rebalances without it at once.
 *
 * Two live nodes must not share an instance id (as with group.instance.id): the later one would
 * evict the earlier, which then rejoins as a new member. Correctness does not depend on it (a
 * checkpointed task's new owner fences the old one's transactional producer), only churn does.
 */
import { type Admin, AssignerProtocol, type Kafka } from 'kafkajs'
import { createCluster } from './kafka-cluster.ts'

/** The client id a node's group members use when it has an instance id. */
export function memberClientId(clientId: string, instanceId: string | undefined): string {
  return instanceId === undefined ? clientId : `${clientId}.${instanceId}`
}

/** What a node's previous incarnation left in a group. */
export interface PreviousIncarnation {
  /** Its members (with this node's client id) still in the group. */
  readonly memberIds: readonly string[]
  /**
   * The partitions those members were assigned last (topic → partitions): the ones this node will
   * most likely be assigned once they are gone, whose state it may read while it joins (decision
   * 0033). Empty when the group was rebalancing (no assignment) or the assignment is unreadable.
   */
  readonly partitions: ReadonlyMap<string, readonly number[]>
}

/** The members of `group` whose client id is `clientId` (a dead predecessor's), and their assignment. */
export async function findPreviousIncarnation(
  admin: Admin,
  group: string,
  clientId: string,
): Promise<PreviousIncarnation> {
  const { groups } = await admin.describeGroups([group])
  const stale = (groups[0]?.members ?? []).filter((member) => member.clientId === clientId)
  const partitions = new Map<string, number[]>()
  for (const member of stale) {
    let assignment: Record<string, number[]> | undefined
    try {
      assignment = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment
    } catch {
      // Not the consumer protocol's encoding: no hint, the eviction still goes ahead.
    }
    for (const [topic, numbers] of Object.entries(assignment ?? {})) {
      const list = partitions.get(topic) ?? []
      for (const p of numbers) if (!list.includes(p)) list.push(p)
      partitions.set(topic, list)
    }
  }
  return { memberIds: stale.map((member) => member.memberId), partitions }
}

/** Removes members from `group` (LeaveGroup on their behalf); members already gone are skipped. */
export async function evictMembers(kafka: Kafka, group: string, memberIds: readonly string[]): Promise<void> {
  if (memberIds.length === 0) return
  const cluster = createCluster(kafka)
  await cluster.connect()
  try {
    const coordinator = await cluster.findGroupCoordinator({ groupId: group })
    for (const memberId of memberIds) {
      try {
        await coordinator.leaveGroup({ groupId: group, memberId })
      } catch (error) {
        // Gone meanwhile (its session ran out, or the group rebalanced it away): what we wanted.
        if ((error as { type?: string }).type !== 'UNKNOWN_MEMBER_ID') throw error
      }
    }
  } finally {
    await cluster.disconnect()
  }
}
