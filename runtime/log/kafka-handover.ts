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
import type { Admin, Kafka } from 'kafkajs'
import { createCluster } from './kafka-cluster.ts'

/** The client id a node's group members use when it has an instance id. */
export function memberClientId(clientId: string, instanceId: string | undefined): string {
  return instanceId === undefined ? clientId : `${clientId}.${instanceId}`
}

/**
 * Removes the members of `group` whose client id is `clientId` (a dead predecessor's) and returns
 * their member ids. A group that does not exist yet, or has no such member, is left alone.
 */
export async function evictPreviousIncarnation(
  kafka: Kafka,
  admin: Admin,
  group: string,
  clientId: string,
): Promise<string[]> {
  const { groups } = await admin.describeGroups([group])
  const stale = (groups[0]?.members ?? []).filter((member) => member.clientId === clientId)
  if (stale.length === 0) return []
  const cluster = createCluster(kafka)
  await cluster.connect()
  try {
    const coordinator = await cluster.findGroupCoordinator({ groupId: group })
    for (const member of stale) {
      try {
        await coordinator.leaveGroup({ groupId: group, memberId: member.memberId })
      } catch (error) {
        // Gone meanwhile (its session ran out, or the group rebalanced it away): what we wanted.
        if ((error as { type?: string }).type !== 'UNKNOWN_MEMBER_ID') throw error
      }
    }
  } finally {
    await cluster.disconnect()
  }
  return stale.map((member) => member.memberId)
}
