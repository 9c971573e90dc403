import { describe, expect, it } from 'vitest'
import { copartitionedTopics } from './copartitioned.ts'

interface TestNode {
  readonly id: string
  readonly inputs: readonly string[]
  readonly topic?: string
}

const groupsOf = (nodes: TestNode[]) =>
  copartitionedTopics({
    nodes,
    id: (n) => n.id,
    inputsOf: (n) => n.inputs,
    topicOf: (n) => n.topic ?? null,
  })

const source = (id: string, topic: string): TestNode => ({ id, inputs: [], topic })
const step = (id: string, ...inputs: string[]): TestNode => ({ id, inputs })

describe('copartitionedTopics', () => {
  it('has no groups without an operator of two inputs', () => {
    expect(groupsOf([source('a', 'ta'), source('b', 'tb'), step('x', 'a'), step('y', 'b')])).toEqual([])
  })

  it('groups the topics upstream of both inputs of a join, through the steps between', () => {
    const nodes = [
      source('a', 'ta'),
      source('b', 'tb'),
      source('c', 'tc'),
      step('a1', 'a'),
      step('j', 'a1', 'b'),
    ]
    expect(groupsOf(nodes)).toEqual([['ta', 'tb']])
  })

  it('merges joins that share a topic into one group, in source order', () => {
    const nodes = [
      source('c', 'tc'),
      source('a', 'ta'),
      source('b', 'tb'),
      source('d', 'td'),
      step('j1', 'a', 'b'),
      step('j2', 'j1', 'c'),
      source('e', 'te'),
      source('f', 'tf'),
      step('j3', 'e', 'f'),
    ]
    expect(groupsOf(nodes)).toEqual([
      ['tc', 'ta', 'tb'],
      ['te', 'tf'],
    ])
  })

  it('needs no group for a join of a topic with itself (two sources of one topic)', () => {
    expect(groupsOf([source('a', 't'), source('b', 't'), step('j', 'a', 'b')])).toEqual([])
  })
})
