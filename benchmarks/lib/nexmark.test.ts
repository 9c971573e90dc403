import { describe, expect, it } from 'vitest'
import {
  type Auction,
  type Bid,
  eventKind,
  FIRST_AUCTION_ID,
  FIRST_PERSON_ID,
  lastBase0AuctionId,
  lastBase0PersonId,
  nexmarkEvent,
  nexmarkEvents,
  nexmarkJsonChunks,
  type Person,
} from './nexmark.ts'

const N = 10_000
const events = [...nexmarkEvents(N)]
const persons = events.flatMap((e) => (e.topic === 'person' ? [e.value as Person] : []))
const auctions = events.flatMap((e) => (e.topic === 'auction' ? [e.value as Auction] : []))
const bids = events.flatMap((e) => (e.topic === 'bid' ? [e.value as Bid] : []))

describe('Nexmark generator', () => {
  it('interleaves 1 person : 3 auctions : 46 bids in every 50 event ids', () => {
    expect([persons.length, auctions.length, bids.length]).toEqual([N / 50, (N / 50) * 3, (N / 50) * 46])
    expect([0, 1, 2, 3, 4, 49, 50].map(eventKind)).toEqual([
      'person',
      'auction',
      'auction',
      'auction',
      'bid',
      'bid',
      'person',
    ])
  })

  it('numbers persons and auctions consecutively from 1000', () => {
    expect(persons.map((p) => p.id)).toEqual(persons.map((_, i) => FIRST_PERSON_ID + i))
    expect(auctions.map((a) => a.id)).toEqual(auctions.map((_, i) => FIRST_AUCTION_ID + i))
    expect([
      lastBase0PersonId(49),
      lastBase0PersonId(50),
      lastBase0AuctionId(3),
      lastBase0AuctionId(50),
    ]).toEqual([0, 1, 2, 2])
  })

  it('draws bids, bidders and sellers from recent ids, with hot auctions and bidders', () => {
    events.forEach((e) => {
      if (e.topic === 'bid') {
        const last = lastBase0AuctionId(e.id) + FIRST_AUCTION_ID
        expect(e.value.auction).toBeGreaterThanOrEqual(Math.max(FIRST_AUCTION_ID, last - 100))
        expect(e.value.auction).toBeLessThanOrEqual(last + 10)
        const lastPerson = lastBase0PersonId(e.id) + FIRST_PERSON_ID
        expect(e.value.bidder).toBeGreaterThanOrEqual(FIRST_PERSON_ID)
        expect(e.value.bidder).toBeLessThanOrEqual(lastPerson + 10)
      } else if (e.topic === 'auction') {
        expect(e.value.seller).toBeLessThanOrEqual(lastBase0PersonId(e.id) + FIRST_PERSON_ID + 10)
        expect(e.value.category).toBeGreaterThanOrEqual(10)
        expect(e.value.category).toBeLessThan(15)
        expect(e.value.reserve).toBeGreaterThanOrEqual(e.value.initial_bid)
        expect(Date.parse(e.value.expires)).toBeGreaterThan(Date.parse(e.value.date_time))
      }
    })
    // hotAuctionRatio 2: about half the bids go to the hot auction of their batch (id ≡ 0 mod 100),
    // plus the few random picks that land there; hotBiddersRatio 4: about 3/4 to hot bidders (≡ 1).
    const hot = bids.filter((b) => (b.auction - FIRST_AUCTION_ID) % 100 === 0).length / bids.length
    expect(hot).toBeGreaterThan(0.45)
    expect(hot).toBeLessThan(0.6)
    const hotBidders = bids.filter((b) => (b.bidder - FIRST_PERSON_ID) % 100 === 1).length / bids.length
    expect(hotBidders).toBeGreaterThan(0.7)
    expect(hotBidders).toBeLessThan(0.8)
  })

  it('prices span 1 cent to 10,000 dollars, log-uniformly', () => {
    const prices = bids.map((b) => b.price)
    expect(Math.min(...prices)).toBeGreaterThanOrEqual(100)
    expect(Math.max(...prices)).toBeLessThanOrEqual(100_000_000)
    const belowThousand = prices.filter((p) => p < 100_000).length / prices.length
    expect(belowThousand).toBeGreaterThan(0.45)
    expect(belowThousand).toBeLessThan(0.55)
  })

  it('gives persons Beam’s states and cities, and events their average sizes', () => {
    expect(new Set(persons.map((p) => p.state))).toEqual(new Set(['AZ', 'CA', 'ID', 'OR', 'WA', 'WY']))
    expect(persons.every((p) => /^\d{4} \d{4} \d{4} \d{4}$/.test(p.credit_card))).toBe(true)
    const mean = (xs: readonly { extra: string }[], fixed: (x: never) => number) =>
      xs.reduce((a, x) => a + x.extra.length + fixed(x as never), 0) / xs.length
    expect(mean(bids, () => 32)).toBeCloseTo(100, -1)
  })

  it('advances event time at the configured rate, in order', () => {
    const slow = [...nexmarkEvents(1001, { eventsPerSecond: 100 })]
    expect(slow[1000]!.timestamp - slow[0]!.timestamp).toBe(10_000)
    const fast = [...nexmarkEvents(1001, { eventsPerSecond: 10_000_000 })]
    expect(fast[1000]!.timestamp - fast[0]!.timestamp).toBe(0)
    for (let i = 1; i < events.length; i++)
      expect(events[i]!.timestamp).toBeGreaterThanOrEqual(events[i - 1]!.timestamp)
    expect(bids.every((b, i) => i === 0 || b.date_time >= bids[i - 1]!.date_time)).toBe(true)
    // Default 10,000 events/s: 10,000 events span 1 s (the last one at 999.9 ms, truncated).
    expect(events.at(-1)!.timestamp - events[0]!.timestamp).toBe(999)
  })

  it('is deterministic per seed, and each event depends only on its id', () => {
    expect([...nexmarkEvents(200)]).toEqual(events.slice(0, 200))
    expect([...nexmarkEvents(50, {}, 1000)]).toEqual(events.slice(1000, 1050))
    expect(nexmarkEvent(777)).toEqual(events[777])
    const other = [...nexmarkEvents(200, { seed: 43 })]
    expect(other).not.toEqual(events.slice(0, 200))
    expect(other.map((e) => e.topic)).toEqual(events.slice(0, 200).map((e) => e.topic))
  })

  it('writes JSON lines per topic in chunks', () => {
    const chunks = [...nexmarkJsonChunks(120, 50)]
    expect(chunks.map((c) => c.bid.length + c.auction.length + c.person.length)).toEqual([50, 50, 20])
    expect(chunks.flatMap((c) => c.bid.map((r) => JSON.parse(r.line) as unknown))).toEqual(
      events.slice(0, 120).flatMap((e) => (e.topic === 'bid' ? [e.value] : [])),
    )
  })
})
