/**
 * A deterministic Nexmark event generator: the Person, Auction and Bid streams of the NEXMark
 * benchmark (Tucker, Tufte, Papadimos, Maier: "NEXMark – A Benchmark for Queries over Data
 * Streams", 2008) as the Apache Beam and Flink Nexmark suites generate them, written as JSON
 * lines for the topics `person`, `auction` and `bid` with their event time in `date_time`
 * (an ISO-8601 string, read by the `.pipe` schemas of examples/nexmark/ as `@event_time`).
 *
 * What it follows, from Beam's `sdks/java/testing/nexmark` (sources/generator/GeneratorConfig.java,
 * Generator.java, model/{Person,Auction,Bid,Price,Strings}Generator.java, NexmarkConfiguration.java)
 * and Flink's nexmark-flink (NexmarkConfiguration.java, the same generator):
 *
 * - Event kinds interleave by event id: of every 50 ids, 1 person, 3 auctions, 46 bids
 *   (`PERSON_PROPORTION` 1 : `AUCTION_PROPORTION` 3 : `BID_PROPORTION` 46), id % 50 = 0 a person,
 *   1–3 auctions, 4–49 bids.
 * - Ids start at `FIRST_PERSON_ID` = `FIRST_AUCTION_ID` = 1000; categories at 10, 5 of them.
 *   A person's id is the `lastBase0PersonId` of its event id + 1000, an auction's likewise.
 * - Hot items (`NexmarkConfiguration` defaults): a bid goes to a hot auction with probability
 *   1 − 1/`hotAuctionRatio` (2), the first auction of the last batch of 100 (`HOT_AUCTION_RATIO`),
 *   else to a random auction among the last `numInFlightAuctions` (100) plus 10 ahead
 *   (`AUCTION_ID_LEAD`); a bidder is hot with probability 1 − 1/`hotBiddersRatio` (4), the second
 *   person of the last batch of 100, else a random one of the last `numActivePeople` (1000) plus
 *   10 ahead (`PERSON_ID_LEAD`); an auction's seller is hot with probability 1 − 1/`hotSellersRatio`
 *   (4), the first person of the last batch of 100.
 * - `nextPrice`: round(10^(U·6) · 100), U uniform in [0, 1) (1 cent … 10,000 dollars, in cents).
 *   An auction's reserve is its initial bid plus another `nextPrice`; its `expires` is its time plus
 *   1 + a random length below twice the event-time span of `numInFlightAuctions` auctions.
 * - Persons: a first and last name from Beam's lists, a random e-mail, a 4×4-digit credit card, a
 *   city from `US_CITIES` and a state from `US_STATES` (the short lists Beam keeps so that q3
 *   finds matches). Strings: `nextString` (3 to max−1 letters, a space with probability 1/13,
 *   trimmed); `extra` pads each event towards `avgPersonByteSize` 200, `avgAuctionByteSize` 500,
 *   `avgBidByteSize` 100 (± 20%) as `nextExtra` does.
 * - Event time: event n has time `baseTime` + ⌊n · 1000 / `eventsPerSecond`⌋ ms, one generator, a
 *   constant rate, in order (Beam's `outOfOrderGroupSize` 1: no jitter, no delayed events). The
 *   default rate is Beam's and Flink's `firstEventRate`, 10,000 events/s; 10,000,000 puts events
 *   0.1 µs apart. The rate only spaces event times: events are generated as fast as asked for.
 *
 * Not bit-for-bit Beam's stream: Beam seeds `java.util.Random` with the event id; this seeds a
 * mulberry32 with a hash of (seed, event id), so events are reproducible per seed and any event can
 * be generated on its own, but the values differ from Beam's. Field names are snake_case
 * (`date_time`, `email_address`, `credit_card`, `item_name`, `initial_bid`); Bid has Beam's fields
 * (`auction`, `bidder`, `price`, `date_time`, `extra`), without the `channel` and `url` Flink added.
 */

export type NexmarkTopic = 'person' | 'auction' | 'bid'

export interface Person {
  readonly id: number
  readonly name: string
  readonly email_address: string
  readonly credit_card: string
  readonly city: string
  readonly state: string
  /** ISO-8601, UTC, milliseconds. */
  readonly date_time: string
  readonly extra: string
}

export interface Auction {
  readonly id: number
  readonly item_name: string
  readonly description: string
  readonly initial_bid: number
  readonly reserve: number
  readonly date_time: string
  readonly expires: string
  readonly seller: number
  readonly category: number
  readonly extra: string
}

export interface Bid {
  readonly auction: number
  readonly bidder: number
  /** Cents. */
  readonly price: number
  readonly date_time: string
  readonly extra: string
}

export type NexmarkEvent =
  | { readonly topic: 'person'; readonly id: number; readonly timestamp: number; readonly value: Person }
  | { readonly topic: 'auction'; readonly id: number; readonly timestamp: number; readonly value: Auction }
  | { readonly topic: 'bid'; readonly id: number; readonly timestamp: number; readonly value: Bid }

export interface NexmarkConfig {
  /** Seeds every event's PRNG (default 42). */
  readonly seed: number
  /** Event time of event 0, epoch ms (default 2026-01-01T00:00:00Z). */
  readonly baseTime: number
  /** Events per second of event time (default 10,000, Beam's `firstEventRate`). */
  readonly eventsPerSecond: number
  readonly hotAuctionRatio: number
  readonly hotBiddersRatio: number
  readonly hotSellersRatio: number
  readonly numInFlightAuctions: number
  readonly numActivePeople: number
  readonly avgPersonByteSize: number
  readonly avgAuctionByteSize: number
  readonly avgBidByteSize: number
}

export const DEFAULT_NEXMARK_CONFIG: NexmarkConfig = {
  seed: 42,
  baseTime: Date.UTC(2026, 0, 1),
  eventsPerSecond: 10_000,
  hotAuctionRatio: 2,
  hotBiddersRatio: 4,
  hotSellersRatio: 4,
  numInFlightAuctions: 100,
  numActivePeople: 1000,
  avgPersonByteSize: 200,
  avgAuctionByteSize: 500,
  avgBidByteSize: 100,
}

export const PERSON_PROPORTION = 1
export const AUCTION_PROPORTION = 3
export const BID_PROPORTION = 46
export const PROPORTION_DENOMINATOR = PERSON_PROPORTION + AUCTION_PROPORTION + BID_PROPORTION
export const FIRST_PERSON_ID = 1000
export const FIRST_AUCTION_ID = 1000
export const FIRST_CATEGORY_ID = 10
const NUM_CATEGORIES = 5
const PERSON_ID_LEAD = 10
const AUCTION_ID_LEAD = 10
/** Hot auctions/sellers/bidders are picked from batches of this many ids. */
const HOT_BATCH = 100

const US_STATES = ['AZ', 'CA', 'ID', 'OR', 'WA', 'WY'] as const
const US_CITIES = [
  'Phoenix',
  'Los Angeles',
  'San Francisco',
  'Boise',
  'Portland',
  'Bend',
  'Redmond',
  'Seattle',
  'Kent',
  'Cheyenne',
] as const
const FIRST_NAMES = [
  'Peter',
  'Paul',
  'Luke',
  'John',
  'Saul',
  'Vicky',
  'Kate',
  'Julie',
  'Sarah',
  'Deiter',
  'Walter',
]
const LAST_NAMES = ['Shultz', 'Abrams', 'Spencer', 'White', 'Bartels', 'Walton', 'Smith', 'Jones', 'Noris']

/** The kind of event an event id is (1 person, 3 auctions, 46 bids in every 50 ids). */
export function eventKind(eventId: number): NexmarkTopic {
  const rem = eventId % PROPORTION_DENOMINATOR
  if (rem < PERSON_PROPORTION) return 'person'
  if (rem < PERSON_PROPORTION + AUCTION_PROPORTION) return 'auction'
  return 'bid'
}

/** The last person id (base 0) generated at or before `eventId`. */
export function lastBase0PersonId(eventId: number): number {
  const epoch = Math.floor(eventId / PROPORTION_DENOMINATOR)
  let offset = eventId % PROPORTION_DENOMINATOR
  if (offset >= PERSON_PROPORTION) offset = PERSON_PROPORTION - 1
  return epoch * PERSON_PROPORTION + offset
}

/** The last auction id (base 0) generated at or before `eventId` (−1 before the first auction). */
export function lastBase0AuctionId(eventId: number): number {
  let epoch = Math.floor(eventId / PROPORTION_DENOMINATOR)
  let offset = eventId % PROPORTION_DENOMINATOR
  if (offset < PERSON_PROPORTION) {
    epoch--
    offset = AUCTION_PROPORTION - 1
  } else if (offset >= PERSON_PROPORTION + AUCTION_PROPORTION) {
    offset = AUCTION_PROPORTION - 1
  } else {
    offset -= PERSON_PROPORTION
  }
  return epoch * AUCTION_PROPORTION + offset
}

/** Event time of event `eventNumber`, epoch ms. */
export function eventTimestamp(eventNumber: number, config: NexmarkConfig): number {
  return config.baseTime + Math.floor((eventNumber * 1000) / config.eventsPerSecond)
}

/** A small PRNG (mulberry32) with the few draws the generators need. */
class Random {
  private state: number

  constructor(seed: number) {
    this.state = seed >>> 0
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0
    let t = this.state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n)
  }
}

/** A 32-bit seed from (seed, event id): murmur3's finaliser over both words. */
function eventSeed(seed: number, eventId: number): number {
  let h = (seed ^ Math.imul(eventId | 0, 0x9e3779b1) ^ Math.floor(eventId / 4294967296)) >>> 0
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b)
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35)
  return (h ^ (h >>> 16)) >>> 0
}

function nextPrice(random: Random): number {
  return Math.round(10 ** (random.next() * 6) * 100)
}

function nextString(random: Random, maxLength: number): string {
  let len = 3 + random.int(maxLength - 3)
  let s = ''
  while (len-- > 0) s += random.int(13) === 0 ? ' ' : String.fromCharCode(97 + random.int(26))
  return s.trim()
}

function nextExactString(random: Random, length: number): string {
  let s = ''
  for (let i = 0; i < length; i++) s += String.fromCharCode(97 + random.int(26))
  return s
}

/** A string that brings `currentSize` to `averageSize` on average (± 20%), or '' when already over. */
function nextExtra(random: Random, currentSize: number, averageSize: number): string {
  if (currentSize > averageSize) return ''
  const desired = averageSize - currentSize
  const delta = Math.round(desired * 0.2)
  return nextExactString(random, desired - delta + (delta === 0 ? 0 : random.int(2 * delta)))
}

function nextBase0PersonId(eventId: number, random: Random, config: NexmarkConfig): number {
  const numPeople = lastBase0PersonId(eventId) + 1
  const active = Math.min(numPeople, config.numActivePeople)
  return numPeople - active + random.int(active + PERSON_ID_LEAD)
}

function nextBase0AuctionId(eventId: number, random: Random, config: NexmarkConfig): number {
  const maxAuction = lastBase0AuctionId(eventId)
  const minAuction = Math.max(maxAuction - config.numInFlightAuctions, 0)
  return minAuction + random.int(maxAuction - minAuction + 1 + AUCTION_ID_LEAD)
}

const iso = (ms: number): string => new Date(ms).toISOString()

function person(eventId: number, random: Random, timestamp: number, config: NexmarkConfig): Person {
  const name = `${FIRST_NAMES[random.int(FIRST_NAMES.length)]} ${LAST_NAMES[random.int(LAST_NAMES.length)]}`
  const email = `${nextString(random, 7)}@${nextString(random, 5)}.com`
  const card = Array.from({ length: 4 }, () => String(random.int(10_000)).padStart(4, '0')).join(' ')
  const city = US_CITIES[random.int(US_CITIES.length)]!
  const state = US_STATES[random.int(US_STATES.length)]!
  const size = 8 + name.length + email.length + card.length + city.length + state.length
  return {
    id: lastBase0PersonId(eventId) + FIRST_PERSON_ID,
    name,
    email_address: email,
    credit_card: card,
    city,
    state,
    date_time: iso(timestamp),
    extra: nextExtra(random, size, config.avgPersonByteSize),
  }
}

function auction(eventId: number, random: Random, timestamp: number, config: NexmarkConfig): Auction {
  const seller =
    (random.int(config.hotSellersRatio) > 0
      ? Math.floor(lastBase0PersonId(eventId) / HOT_BATCH) * HOT_BATCH
      : nextBase0PersonId(eventId, random, config)) + FIRST_PERSON_ID
  const category = FIRST_CATEGORY_ID + random.int(NUM_CATEGORIES)
  const initialBid = nextPrice(random)
  // Auctions last on average as long as it takes to generate numInFlightAuctions more of them.
  const eventsForAuctions = Math.floor(
    (config.numInFlightAuctions * PROPORTION_DENOMINATOR) / AUCTION_PROPORTION,
  )
  const horizonMs = eventTimestamp(eventId + eventsForAuctions, config) - timestamp
  const expires = timestamp + 1 + random.int(Math.max(horizonMs * 2, 1))
  const itemName = nextString(random, 20)
  const description = nextString(random, 100)
  const reserve = initialBid + nextPrice(random)
  const size = 8 + itemName.length + description.length + 8 + 8 + 8 + 8 + 8
  return {
    id: lastBase0AuctionId(eventId) + FIRST_AUCTION_ID,
    item_name: itemName,
    description,
    initial_bid: initialBid,
    reserve,
    date_time: iso(timestamp),
    expires: iso(expires),
    seller,
    category,
    extra: nextExtra(random, size, config.avgAuctionByteSize),
  }
}

function bid(eventId: number, random: Random, timestamp: number, config: NexmarkConfig): Bid {
  const auctionId =
    (random.int(config.hotAuctionRatio) > 0
      ? Math.floor(lastBase0AuctionId(eventId) / HOT_BATCH) * HOT_BATCH
      : nextBase0AuctionId(eventId, random, config)) + FIRST_AUCTION_ID
  // The second person of the batch, so that hot bidders and hot sellers differ.
  const bidder =
    (random.int(config.hotBiddersRatio) > 0
      ? Math.floor(lastBase0PersonId(eventId) / HOT_BATCH) * HOT_BATCH + 1
      : nextBase0PersonId(eventId, random, config)) + FIRST_PERSON_ID
  const price = nextPrice(random)
  return {
    auction: auctionId,
    bidder,
    price,
    date_time: iso(timestamp),
    extra: nextExtra(random, 32, config.avgBidByteSize),
  }
}

/** Event `eventId` of the stream: a pure function of the id and the config. */
export function nexmarkEvent(eventId: number, config: NexmarkConfig = DEFAULT_NEXMARK_CONFIG): NexmarkEvent {
  if (!Number.isSafeInteger(eventId) || eventId < 0)
    throw new RangeError(`event id must be a non-negative integer, got ${eventId}`)
  const random = new Random(eventSeed(config.seed, eventId))
  const timestamp = eventTimestamp(eventId, config)
  switch (eventKind(eventId)) {
    case 'person':
      return { topic: 'person', id: eventId, timestamp, value: person(eventId, random, timestamp, config) }
    case 'auction':
      return { topic: 'auction', id: eventId, timestamp, value: auction(eventId, random, timestamp, config) }
    case 'bid':
      return { topic: 'bid', id: eventId, timestamp, value: bid(eventId, random, timestamp, config) }
  }
}

/** Events `first` … `first + count − 1`, in event-id (and event-time) order. */
export function* nexmarkEvents(
  count: number,
  config: Partial<NexmarkConfig> = {},
  first = 0,
): Generator<NexmarkEvent> {
  const full = { ...DEFAULT_NEXMARK_CONFIG, ...config }
  if (!(full.eventsPerSecond > 0))
    throw new RangeError(`eventsPerSecond must be positive, got ${full.eventsPerSecond}`)
  for (let id = first; id < first + count; id++) yield nexmarkEvent(id, full)
}

/** The events as JSON lines per topic, in chunks of at most `chunk` events (of all topics). */
export function* nexmarkJsonChunks(
  count: number,
  chunk: number,
  config: Partial<NexmarkConfig> = {},
): Generator<Record<NexmarkTopic, { line: string; timestamp: number }[]>> {
  for (let from = 0; from < count; from += chunk) {
    const out: Record<NexmarkTopic, { line: string; timestamp: number }[]> = {
      person: [],
      auction: [],
      bid: [],
    }
    for (const event of nexmarkEvents(Math.min(chunk, count - from), config, from)) {
      out[event.topic].push({ line: JSON.stringify(event.value), timestamp: event.timestamp })
    }
    yield out
  }
}
