// Catalog and review events as the write services emit them, and a seeded mixed stream of them.
import { randomUUID } from 'node:crypto';
import {
  CategoryCreatedV1,
  CategoryUpdatedV1,
  ProductCreatedV1,
  ProductDeletedV1,
  ProductUpdatedV1,
  type CategoryState,
  type ProductState,
} from '../src/contracts/catalog.events.js';
import type { EventEnvelope, EventTypeDefinition } from '../src/contracts/envelope.js';
import { createEnvelope } from '../src/contracts/registry.js';
import {
  ReviewCreatedV1,
  ReviewDeletedV1,
  ReviewUpdatedV1,
  type ReviewState,
} from '../src/contracts/review.events.js';
import type { Topics } from '../src/contracts/topics.js';
import type { MessageProducer, OutgoingMessage } from '../src/messaging/kafka.js';

export interface StreamEvent {
  envelope: EventEnvelope;
  /** Partition key as the write services use it: product id for product and review events. */
  key: string;
}

/**
 * Writes events the way the catalog and reviews services would: every aggregate's versions grow by 1,
 * each event carries the full state. Tracks nothing about views: the model below does that.
 */
export class EventWriter {
  readonly events: StreamEvent[] = [];
  private readonly versions = new Map<string, number>();
  private readonly products = new Map<string, ProductState>();
  private readonly categories = new Map<string, CategoryState>();
  private readonly reviews = new Map<string, ReviewState>();
  // The live ids in the Maps' insertion order, kept beside them so a stream generator can pick one
  // without copying the key list per event (that made 200k-event streams take minutes).
  private readonly productOrder: string[] = [];
  private readonly reviewOrder: string[] = [];
  private tick = Date.parse('2026-01-01T00:00:00Z');

  private emit(def: EventTypeDefinition, id: string, key: string, data: unknown): StreamEvent {
    const version = (this.versions.get(id) ?? 0) + 1;
    this.versions.set(id, version);
    this.tick += 1000;
    const envelope = createEnvelope(def, {
      id: randomUUID(),
      subject: id,
      time: new Date(this.tick),
      aggregateVersion: version,
      data,
    });
    const event = { envelope, key };
    this.events.push(event);
    return event;
  }

  private now(): string {
    return new Date(this.tick).toISOString();
  }

  category(name: string, id: string = randomUUID(), description = `about ${name}`): string {
    const existing = this.categories.get(id);
    const state: CategoryState = {
      id,
      name,
      description,
      createdAt: existing?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    this.categories.set(id, state);
    this.emit(existing ? CategoryUpdatedV1 : CategoryCreatedV1, id, id, state);
    return id;
  }

  product(
    fields: { id?: string; name?: string; categoryId?: string | null; price?: number } & Partial<
      Pick<ProductState, 'sku' | 'description' | 'attributes'>
    >,
  ): string {
    const id = fields.id ?? randomUUID();
    const existing = this.products.get(id);
    const state: ProductState = {
      id,
      sku: fields.sku ?? existing?.sku ?? `SKU-${id.slice(0, 8)}`,
      name: fields.name ?? existing?.name ?? `product ${id.slice(0, 4)}`,
      description: fields.description ?? existing?.description ?? 'a product',
      categoryId: fields.categoryId !== undefined ? fields.categoryId : (existing?.categoryId ?? null),
      price: { amount: fields.price ?? existing?.price.amount ?? 1000, currency: 'EUR' },
      attributes: fields.attributes ?? existing?.attributes ?? { color: 'red' },
      createdAt: existing?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    if (!existing) this.productOrder.push(id);
    this.products.set(id, state);
    this.emit(existing ? ProductUpdatedV1 : ProductCreatedV1, id, id, state);
    return id;
  }

  deleteProduct(id: string): void {
    const existing = this.products.get(id);
    if (!existing) throw new Error(`no product ${id}`);
    this.products.delete(id);
    this.productOrder.splice(this.productOrder.indexOf(id), 1);
    this.emit(ProductDeletedV1, id, id, { id, categoryId: existing.categoryId, deletedAt: this.now() });
  }

  review(
    fields: { id?: string; productId?: string; rating: number } & Partial<
      Pick<ReviewState, 'author' | 'title' | 'body'>
    >,
  ): string {
    const id = fields.id ?? randomUUID();
    const existing = this.reviews.get(id);
    const productId = fields.productId ?? existing?.productId;
    if (!productId) throw new Error('a new review needs a productId');
    const state: ReviewState = {
      id,
      productId,
      author: fields.author ?? existing?.author ?? 'ann',
      rating: fields.rating,
      title: fields.title ?? existing?.title ?? 't',
      body: fields.body ?? existing?.body ?? 'b',
      createdAt: existing?.createdAt ?? this.now(),
      updatedAt: this.now(),
    };
    if (!existing) this.reviewOrder.push(id);
    this.reviews.set(id, state);
    this.emit(existing ? ReviewUpdatedV1 : ReviewCreatedV1, id, productId, state);
    return id;
  }

  deleteReview(id: string): void {
    const existing = this.reviews.get(id);
    if (!existing) throw new Error(`no review ${id}`);
    this.reviews.delete(id);
    this.reviewOrder.splice(this.reviewOrder.indexOf(id), 1);
    this.emit(ReviewDeletedV1, id, existing.productId, {
      id,
      productId: existing.productId,
      deletedAt: this.now(),
    });
  }

  liveProductIds(): string[] {
    return [...this.productOrder];
  }
  liveReviewIds(): string[] {
    return [...this.reviewOrder];
  }
  /** The live ids without a copy: valid until the next write. */
  live(kind: 'product' | 'review'): readonly string[] {
    return kind === 'product' ? this.productOrder : this.reviewOrder;
  }
}

/** A random mixed stream: categories, products (some before their category), reviews (some before their product), edits, moves, deletes. */
export function mixedStream(
  writer: EventWriter,
  random: () => number,
  size: { categories: number; products: number; reviews: number; edits: number },
): void {
  const pick = <T>(list: readonly T[]): T => list[Math.floor(random() * list.length)]!;
  const categoryIds = Array.from({ length: size.categories }, () => randomUUID());
  // Half of the categories are created up front; the rest arrive after products that use them.
  categoryIds.slice(0, Math.ceil(size.categories / 2)).forEach((id, i) => writer.category(`cat ${i}`, id));
  const productIds = Array.from({ length: size.products }, () => randomUUID());
  // A few reviews come before their product is created.
  for (const id of productIds.slice(0, 3))
    writer.review({ productId: id, rating: 1 + Math.floor(random() * 5) });
  for (const id of productIds)
    writer.product({
      id,
      categoryId: random() < 0.9 ? pick(categoryIds) : null,
      price: 100 + Math.floor(random() * 10_000),
    });
  categoryIds.slice(Math.ceil(size.categories / 2)).forEach((id, i) => writer.category(`late cat ${i}`, id));
  for (let i = 0; i < size.reviews; i++)
    writer.review({ productId: pick(productIds), rating: 1 + Math.floor(random() * 5) });
  for (let i = 0; i < size.edits; i++) {
    const roll = random();
    const products = writer.live('product');
    const reviews = writer.live('review');
    if (roll < 0.3 && products.length > 0)
      writer.product({
        id: pick(products),
        price: 100 + Math.floor(random() * 10_000),
        name: `renamed ${i}`,
      });
    else if (roll < 0.4 && products.length > 0)
      writer.product({ id: pick(products), categoryId: pick(categoryIds) });
    else if (roll < 0.5) writer.category(`renamed cat ${i}`, pick(categoryIds));
    else if (roll < 0.7 && reviews.length > 0)
      writer.review({ id: pick(reviews), rating: 1 + Math.floor(random() * 5) });
    else if (roll < 0.8 && reviews.length > 0) writer.deleteReview(pick(reviews));
    else if (roll < 0.85 && products.length > 1) writer.deleteProduct(pick(products));
    else writer.review({ productId: pick(productIds), rating: 1 + Math.floor(random() * 5) });
  }
}

export function toMessage(topics: Topics, event: StreamEvent): OutgoingMessage {
  const topic = { product: topics.products, category: topics.categories, review: topics.reviews }[
    event.envelope.aggregatetype as 'product'
  ];
  return { topic, key: event.key, value: JSON.stringify(event.envelope) };
}

export async function produce(
  producer: MessageProducer,
  topics: Topics,
  events: StreamEvent[],
  chunk = 2000,
): Promise<void> {
  for (let i = 0; i < events.length; i += chunk)
    await producer.send(events.slice(i, i + chunk).map((e) => toMessage(topics, e)));
}

/**
 * Appends a mixed stream of `size` to `writer` (its edits touch every live product and review, earlier
 * ones included) and produces just the events it appended.
 */
export async function produceMixed(
  producer: MessageProducer,
  topics: Topics,
  writer: EventWriter,
  random: () => number,
  size: Parameters<typeof mixedStream>[2],
): Promise<void> {
  const from = writer.events.length;
  mixedStream(writer, random, size);
  await produce(producer, topics, writer.events.slice(from));
}
