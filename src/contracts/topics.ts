import type { TopicSpec } from '../messaging/kafka.js';
import type { AggregateType } from './envelope.js';

/**
 * One topic per aggregate kind. Keys: a product's id for product events; a category's id for category
 * events; the *product* id for review events, so every event that changes one product's rating
 * summary lands, in order, in one partition.
 */
export interface Topics {
  products: string;
  categories: string;
  reviews: string;
}

const TOPIC_PARTITIONS = 6;

export function topicNames(prefix: string): Topics {
  return { products: `${prefix}products`, categories: `${prefix}categories`, reviews: `${prefix}reviews` };
}

export function topicFor(topics: Topics, aggregateType: AggregateType): string {
  switch (aggregateType) {
    case 'product':
      return topics.products;
    case 'category':
      return topics.categories;
    case 'review':
      return topics.reviews;
  }
}

/** The topic poison events are copied to (the dead_letters table is the one operators act on). */
export function deadLetterTopic(prefix: string): string {
  return `${prefix}dead-letter`;
}

/** The projector rebuilds from these topics, so they keep every event: unlimited retention. */
export function topicSpecs(topics: Topics): TopicSpec[] {
  return [topics.products, topics.categories, topics.reviews].map((topic) => ({
    topic,
    partitions: TOPIC_PARTITIONS,
    config: { 'retention.ms': '-1', 'retention.bytes': '-1', 'cleanup.policy': 'delete' },
  }));
}

/** Every topic of a deployment: the event topics and the projector's dead-letter topic. */
export function allTopicSpecs(prefix: string): TopicSpec[] {
  return [
    ...topicSpecs(topicNames(prefix)),
    { topic: deadLetterTopic(prefix), partitions: 1, config: { 'retention.ms': '-1' } },
  ];
}
