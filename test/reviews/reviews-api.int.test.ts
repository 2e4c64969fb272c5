import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REVIEWS_BODY_MAX_BYTES } from '../../src/contracts/bounds.js';
import { decodeEvent } from '../../src/contracts/registry.js';
import { confirmationId, reviewCollections } from '../../src/reviews/review.model.js';
import { aReview, startReviewsFixture, type ReviewsFixture } from './support.js';

describe('reviews REST API', () => {
  let fx: ReviewsFixture;

  beforeAll(async () => {
    fx = await startReviewsFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  const post = (productId: string, payload: unknown, headers: Record<string, string> = {}) =>
    fx.app.inject({
      method: 'POST',
      url: `/products/${productId}/reviews`,
      payload: payload as object,
      headers,
    });
  const eventsOf = (reviewId: string) =>
    reviewCollections(fx.db).events.find({ reviewId }).sort({ version: 1 }).toArray();

  it('creates, reads, patches and deletes a review, one event per write with type, version and product key', async () => {
    // given a product the catalog knows
    const productId = fx.newProduct();

    // when a review is created
    const created = await post(productId, aReview);
    expect(created.statusCode).toBe(201);
    const review = created.json<{ id: string; version: number; rating: number }>();
    expect(review).toMatchObject({ ...aReview, productId, version: 1 });
    expect(created.headers.etag).toBe('"1"');
    expect(created.headers['locus-consistency-token']).toBe(`review:${review.id}:1`);
    expect(created.headers.location).toBe(`/reviews/${review.id}`);

    // then it reads back
    const read = await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` });
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(created.json());
    expect(read.headers.etag).toBe('"1"');

    // when it is patched with the current version
    const patched = await fx.app.inject({
      method: 'PATCH',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '"1"' },
      payload: { rating: 2, title: 'Meh' },
    });
    expect(patched.statusCode).toBe(200);
    expect(patched.json()).toMatchObject({ ...aReview, rating: 2, title: 'Meh', version: 2 });
    expect(patched.headers['locus-consistency-token']).toBe(`review:${review.id}:2`);

    // and deleted
    const deleted = await fx.app.inject({
      method: 'DELETE',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '"2"' },
    });
    expect(deleted.statusCode).toBe(204);
    expect(deleted.headers['locus-consistency-token']).toBe(`review:${review.id}:3`);
    expect((await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` })).json()).toMatchObject({
      code: 'LOCUS_REVIEW_NOT_FOUND',
    });

    // then each write recorded exactly one valid event, keyed for the product's partition, and left
    // it in the outbox, confirmed, for the relay
    const events = await eventsOf(review.id);
    expect(events.map((e) => [e.version, e.envelope.type, e.productId])).toEqual([
      [1, 'locus.reviews.review.created.v1', productId],
      [2, 'locus.reviews.review.updated.v1', productId],
      [3, 'locus.reviews.review.deleted.v1', productId],
    ]);
    const outbox = reviewCollections(fx.db).outbox;
    for (const event of events) {
      expect(await outbox.findOne({ _id: event._id })).toMatchObject({
        kind: 'event',
        version: event.version,
      });
      expect(await outbox.findOne({ _id: confirmationId(event._id) })).toMatchObject({ eventId: event._id });
    }
    for (const event of events) {
      const decoded = decodeEvent(JSON.stringify(event.envelope));
      expect(decoded.subject).toBe(review.id);
      expect(decoded.aggregateversion).toBe(event.version);
    }
    expect(events[1]?.envelope.data).toMatchObject({ rating: 2, title: 'Meh', body: aReview.body });
    expect(events.map((e) => e.sequence)).toEqual([...events.map((e) => e.sequence)].sort((a, b) => a - b));
  });

  it('rejects a stale If-Match with 409 and records no event', async () => {
    const productId = fx.newProduct();
    const review = (await post(productId, aReview)).json<{ id: string }>();
    await fx.app.inject({ method: 'PATCH', url: `/reviews/${review.id}`, payload: { rating: 5 } });

    const stale = await fx.app.inject({
      method: 'PATCH',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '"1"' },
      payload: { rating: 1 },
    });
    expect(stale.statusCode).toBe(409);
    expect(stale.json()).toMatchObject({ code: 'LOCUS_VERSION_CONFLICT' });
    const staleDelete = await fx.app.inject({
      method: 'DELETE',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '1' },
    });
    expect(staleDelete.statusCode).toBe(409);
    expect((await eventsOf(review.id)).map((e) => e.version)).toEqual([1, 2]);
    expect((await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` })).json()).toMatchObject({
      rating: 5,
      version: 2,
    });
  });

  it('answers 404 LOCUS_PRODUCT_NOT_FOUND for a product the catalog does not know, recording nothing', async () => {
    const before = await reviewCollections(fx.db).events.countDocuments();
    const response = await post(randomUUID(), aReview);
    expect(response.statusCode).toBe(404);
    expect(response.json()).toMatchObject({ code: 'LOCUS_PRODUCT_NOT_FOUND' });
    expect(await reviewCollections(fx.db).events.countDocuments()).toBe(before);
  });

  it('answers 404 LOCUS_REVIEW_NOT_FOUND for unknown reviews on GET, PATCH and DELETE', async () => {
    const id = randomUUID();
    for (const [method, payload] of [
      ['GET', undefined],
      ['PATCH', { rating: 3 }],
      ['DELETE', undefined],
    ] as const) {
      const response = await fx.app.inject({ method, url: `/reviews/${id}`, payload });
      expect(response.statusCode, method).toBe(404);
      expect(response.json(), method).toMatchObject({ code: 'LOCUS_REVIEW_NOT_FOUND' });
    }
  });

  it('returns the first result for a retried POST with the same Idempotency-Key', async () => {
    const productId = fx.newProduct();
    const key = randomUUID();
    const first = await post(productId, aReview, { 'idempotency-key': key });
    expect(first.statusCode).toBe(201);
    const id = first.json<{ id: string }>().id;
    // the review changes in between: the retry still answers with the first result
    await fx.app.inject({ method: 'PATCH', url: `/reviews/${id}`, payload: { rating: 1 } });

    const retries = await Promise.all(
      [1, 2, 3].map(() => post(productId, aReview, { 'idempotency-key': key })),
    );
    for (const retry of retries) {
      expect(retry.statusCode).toBe(201);
      expect(retry.json()).toEqual(first.json());
      expect(retry.headers['idempotent-replayed']).toBe('true');
    }
    expect(await reviewCollections(fx.db).reviews.countDocuments({ productId })).toBe(1);

    const reused = await post(productId, { ...aReview, rating: 1 }, { 'idempotency-key': key });
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ code: 'LOCUS_IDEMPOTENCY_MISMATCH' });
  });

  it('creates exactly one review when first attempts with one key race', async () => {
    const productId = fx.newProduct();
    const key = randomUUID();
    const responses = await Promise.all(
      Array.from({ length: 8 }, () => post(productId, aReview, { 'idempotency-key': key })),
    );
    expect(responses.map((r) => r.statusCode)).toEqual(Array(8).fill(201));
    expect(new Set(responses.map((r) => r.json<{ id: string }>().id)).size).toBe(1);
    expect(await reviewCollections(fx.db).events.countDocuments({ productId })).toBe(1);
  });

  it.each([
    ['a $-key at the top', { ...aReview, $set: { rating: 5 } }, 'LOCUS_UNSAFE_KEY', '/$set'],
    ['a dotted key', { ...aReview, 'rating.x': 1 }, 'LOCUS_UNSAFE_KEY', '/rating.x'],
    ['a nested $-key', { ...aReview, title: { $gt: '' } }, 'LOCUS_UNSAFE_KEY', '/title/$gt'],
    ['a string rating', { ...aReview, rating: '4' }, 'LOCUS_VALIDATION', 'rating'],
    ['rating 0', { ...aReview, rating: 0 }, 'LOCUS_VALIDATION', 'rating'],
    ['rating 6', { ...aReview, rating: 6 }, 'LOCUS_VALIDATION', 'rating'],
    ['rating 4.5', { ...aReview, rating: 4.5 }, 'LOCUS_VALIDATION', 'rating'],
    ['an empty author', { ...aReview, author: '' }, 'LOCUS_VALIDATION', 'author'],
    ['a missing body', { author: 'a', rating: 3, title: 't' }, 'LOCUS_VALIDATION', 'body'],
    ['an unknown field', { ...aReview, helpful: 3 }, 'LOCUS_UNKNOWN_FIELD', 'helpful'],
  ])('rejects %s with 400 naming the field, recording nothing', async (_name, payload, code, field) => {
    const productId = fx.newProduct();
    const response = await post(productId, payload);
    expect(response.statusCode).toBe(400);
    const body = response.json<{ code: string; details: { field: string }[] }>();
    expect(body.code).toBe(code);
    expect(body.details.map((d) => d.field).join(' ')).toContain(field);
    expect(await reviewCollections(fx.db).events.countDocuments({ productId })).toBe(0);
  });

  it('rejects $-keys, bad types and unknown fields in a PATCH, recording nothing', async () => {
    const review = (await post(fx.newProduct(), aReview)).json<{ id: string }>();
    for (const [payload, code] of [
      [{ $set: { rating: 1 } }, 'LOCUS_UNSAFE_KEY'],
      [{ rating: 9 }, 'LOCUS_VALIDATION'],
      [{ productId: randomUUID() }, 'LOCUS_UNKNOWN_FIELD'],
      [{}, 'LOCUS_VALIDATION'],
    ] as const) {
      const response = await fx.app.inject({ method: 'PATCH', url: `/reviews/${review.id}`, payload });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.json(), JSON.stringify(payload)).toMatchObject({ code });
    }
    expect(await eventsOf(review.id)).toHaveLength(1);
  });

  it('rejects malformed JSON, a malformed id, a malformed If-Match and an oversized body', async () => {
    const productId = fx.newProduct();
    const malformed = await fx.app.inject({
      method: 'POST',
      url: `/products/${productId}/reviews`,
      headers: { 'content-type': 'application/json' },
      payload: '{"author": "a", "rating": 4,',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json()).toMatchObject({ code: 'LOCUS_VALIDATION' });

    const badId = await fx.app.inject({ method: 'GET', url: '/reviews/not-a-uuid' });
    expect(badId.statusCode).toBe(400);
    expect(badId.json<{ details: { field: string }[] }>().details[0]?.field).toContain('id');

    const badProduct = await post('nope', aReview);
    expect(badProduct.statusCode).toBe(400);

    const review = (await post(productId, aReview)).json<{ id: string }>();
    const badIfMatch = await fx.app.inject({
      method: 'PATCH',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '"abc"' },
      payload: { rating: 3 },
    });
    expect(badIfMatch.statusCode).toBe(400);

    const oversized = await post(productId, { ...aReview, body: 'x'.repeat(REVIEWS_BODY_MAX_BYTES) });
    expect(oversized.statusCode).toBe(413);
    expect(oversized.json()).toMatchObject({ code: 'LOCUS_PAYLOAD_TOO_LARGE' });
    const tooLongField = await post(productId, { ...aReview, body: 'x'.repeat(10_001) });
    expect(tooLongField.statusCode).toBe(400);
    expect(await reviewCollections(fx.db).events.countDocuments({ productId })).toBe(1);
  });

  it('exports live reviews ordered by id, a page at a time, without deleted ones', async () => {
    const productId = fx.newProduct();
    const ids: string[] = [];
    for (let i = 0; i < 5; i++)
      ids.push((await post(productId, { ...aReview, rating: 1 + i })).json<{ id: string }>().id);
    await fx.app.inject({ method: 'DELETE', url: `/reviews/${ids[2]}` });

    const seen: { id: string; productId: string; version: number }[] = [];
    let after: string | null = null;
    let pages = 0;
    do {
      const query: string = after ? `after=${after}&limit=2` : 'limit=2';
      const page = await fx.app.inject({ method: 'GET', url: `/export/reviews?${query}` });
      expect(page.statusCode).toBe(200);
      const body = page.json<{
        items: { id: string; productId: string; version: number }[];
        next: string | null;
      }>();
      seen.push(...body.items);
      after = body.next;
      pages += 1;
    } while (after && pages < 1000);

    const mine = seen.filter((item) => item.productId === productId).map((item) => item.id);
    expect(mine).toEqual(ids.filter((id) => id !== ids[2]).sort());
    const all = seen.map((item) => item.id);
    expect(all).toEqual([...all].sort());
    expect((await fx.app.inject({ method: 'GET', url: '/export/reviews?limit=1001' })).statusCode).toBe(400);
    expect((await fx.app.inject({ method: 'GET', url: '/export/reviews?after=x' })).statusCode).toBe(400);
  });
});
