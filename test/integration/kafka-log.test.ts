/**
 * The shared Log conformance suite (runtime/log/conformance.ts) against a real Kafka broker
 * started by scripts/servers/kafka.sh (see scripts/test-integration.sh). Every test gets its own
 * KafkaLog; topics and groups carry unique names, so the broker is never reset between tests.
 */
import { logConformance } from '../../runtime/log/conformance.ts'
import { connectKafkaLog } from './kafka-env.ts'

logConformance('kafka', async () => {
  const log = await connectKafkaLog()
  return { log, cleanup: () => log.close() }
})
