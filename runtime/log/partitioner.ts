/**
 * Kafka's default partitioner for keyed records: murmur2 (seed 0x9747b28c) of the key's UTF-8
 * bytes, made positive with `& 0x7fffffff`, modulo the partition count. This is what the Java
 * client and kafkajs's DefaultPartitioner compute, so the embedded log and Kafka place a key in
 * the same partition, and a pipeline moved from one to the other keeps its key → partition map.
 */
export function partitionForKey(key: string, partitions: number): number {
  return (murmur2(Buffer.from(key, 'utf8')) & 0x7fffffff) % partitions
}

const SEED = 0x9747b28c
const M = 0x5bd1e995
const R = 24

/** murmur2 as in org.apache.kafka.common.utils.Utils.murmur2, 32-bit signed result. */
export function murmur2(data: Uint8Array): number {
  const length = data.length
  let h = SEED ^ length
  const length4 = length >> 2
  for (let i = 0; i < length4; i++) {
    const i4 = i << 2
    let k =
      (data[i4]! & 0xff) |
      ((data[i4 + 1]! & 0xff) << 8) |
      ((data[i4 + 2]! & 0xff) << 16) |
      ((data[i4 + 3]! & 0xff) << 24)
    k = Math.imul(k, M)
    k ^= k >>> R
    k = Math.imul(k, M)
    h = Math.imul(h, M)
    h ^= k
  }
  const tail = length & ~3
  switch (length % 4) {
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: murmur2 mixes the tail bytes by falling through
    case 3:
      h ^= (data[tail + 2]! & 0xff) << 16
    // biome-ignore lint/suspicious/noFallthroughSwitchClause: as above
    case 2:
      h ^= (data[tail + 1]! & 0xff) << 8
    case 1:
      h ^= data[tail]! & 0xff
      h = Math.imul(h, M)
  }
  h ^= h >>> 13
  h = Math.imul(h, M)
  h ^= h >>> 15
  return h | 0
}
