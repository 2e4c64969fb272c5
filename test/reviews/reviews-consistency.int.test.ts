import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReviewCreatedV1, ReviewUpdatedV1, type ReviewState } from '../../src/contracts/review.events.js';
import { reviewCollections } from '../../src/reviews/review.model.js';
import { applyEvent, commitEvent, loadCurrent } from '../../src/reviews/review.repository.js';
import { buildEvent } from '../../src/reviews/review.write.js';
import { aReview, startReviewsFixture, type ReviewsFixture } from './support.js';

describe('reviews write consistency (concurrency and crashes)', () => {
  let fx: ReviewsFixture;

  beforeAll(async () => {
    fx = await startReviewsFixture();
  });
  afterAll(async () => {
    await fx.close();
  });

  const create = async () => {
    const response = await fx.app.inject({
      method: 'POST',
      url: `/products/${fx.newProduct()}/reviews`,
      payload: aReview,
    });
    return response.json<ReviewState & { version: number }>();
  };

  it('lets exactly one of 10 parallel PATCHes with the same If-Match win; the rest get 409 and the document is the winner', async () => {
    for (let round = 0; round < 5; round++) {
      // given a review at version 1
      const review = await create();

      // when 10 clients patch it at once, each claiming version 1
      const responses = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          fx.app.inject({
            method: 'PATCH',
            url: `/reviews/${review.id}`,
            headers: { 'if-match': '"1"' },
            payload: { title: `writer ${i}`, rating: 1 + (i % 5) },
          }),
        ),
      );

      // then one succeeds and nine conflict
      const winners = responses.filter((r) => r.statusCode === 200);
      const losers = responses.filter((r) => r.statusCode === 409);
      expect(winners).toHaveLength(1);
      expect(losers).toHaveLength(9);
      for (const loser of losers) expect(loser.json()).toMatchObject({ code: 'LOCUS_VERSION_CONFLICT' });
      const winner = winners[0]!.json<ReviewState & { version: number }>();
      expect(winner.version).toBe(2);

      // and the stored document, the read and the single version-2 event all equal the winner's state
      const events = await reviewCollections(fx.db).events.find({ reviewId: review.id }).toArray();
      expect(events.map((e) => e.version).sort()).toEqual([1, 2]);
      const { version: _v, ...winnerState } = winner;
      expect(events.find((e) => e.version === 2)?.envelope.data).toEqual(winnerState);
      const document = await reviewCollections(fx.db).reviews.findOne({ _id: review.id });
      expect(document).toMatchObject({ title: winner.title, rating: winner.rating, version: 2 });
      const read = await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` });
      expect(read.json()).toEqual(winner);
    }
  });

  it('serialises parallel unconditional PATCHes into consecutive versions, losing none', async () => {
    const review = await create();
    const responses = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        fx.app.inject({ method: 'PATCH', url: `/reviews/${review.id}`, payload: { title: `t${i}` } }),
      ),
    );
    expect(responses.map((r) => r.statusCode)).toEqual([200, 200, 200, 200]);
    expect(responses.map((r) => r.json<{ version: number }>().version).sort()).toEqual([2, 3, 4, 5]);
    const events = await reviewCollections(fx.db)
      .events.find({ reviewId: review.id })
      .sort({ version: 1 })
      .toArray();
    expect(events.map((e) => e.version)).toEqual([1, 2, 3, 4, 5]);
    const last = events[4]!.envelope.data as ReviewState;
    expect((await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` })).json()).toMatchObject({
      title: last.title,
      version: 5,
    });
  });

  it('repairs on the next read a document left behind by a crash between the event insert and the document update', async () => {
    // given a review at version 1
    const review = await create();
    const { version: _v, ...state } = review;
    const previous = await reviewCollections(fx.db).events.findOne({ reviewId: review.id, version: 1 });

    // when a writer commits version 2 and dies before updating the document
    const changed: ReviewState = {
      ...state,
      title: 'committed, then crashed',
      updatedAt: new Date().toISOString(),
    };
    await commitEvent(
      fx.db,
      buildEvent({
        definition: ReviewUpdatedV1,
        reviewId: review.id,
        productId: review.productId,
        version: 2,
        previousSequence: previous!.sequence,
        data: changed,
        now: new Date(),
        id: randomUUID(),
      }),
    );
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: review.id })).toMatchObject({ version: 1 });

    // then the next read answers version 2 and repairs the document
    const read = await fx.app.inject({ method: 'GET', url: `/reviews/${review.id}` });
    expect(read.json()).toMatchObject({ title: 'committed, then crashed', version: 2 });
    expect(read.headers.etag).toBe('"2"');
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: review.id })).toMatchObject({
      title: 'committed, then crashed',
      version: 2,
    });
  });

  it('lets the next write continue from a crashed commit: no wedge, no lost version', async () => {
    const review = await create();
    const { version: _v, ...state } = review;
    await commitEvent(
      fx.db,
      buildEvent({
        definition: ReviewUpdatedV1,
        reviewId: review.id,
        productId: review.productId,
        version: 2,
        previousSequence: 0,
        data: { ...state, rating: 5, updatedAt: new Date().toISOString() },
        now: new Date(),
        id: randomUUID(),
      }),
    );

    // a client that saw version 1 is told it is stale; one that knows version 2 proceeds
    const stale = await fx.app.inject({
      method: 'PATCH',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '"1"' },
      payload: { title: 'from v1' },
    });
    expect(stale.statusCode).toBe(409);
    const next = await fx.app.inject({
      method: 'PATCH',
      url: `/reviews/${review.id}`,
      headers: { 'if-match': '"2"' },
      payload: { title: 'from v2' },
    });
    expect(next.statusCode).toBe(200);
    expect(next.json()).toMatchObject({ rating: 5, title: 'from v2', version: 3 });
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: review.id })).toMatchObject({
      rating: 5,
      title: 'from v2',
      version: 3,
    });
  });

  it('makes a review whose creation crashed before its document exists readable from its event', async () => {
    const productId = fx.newProduct();
    const id = randomUUID();
    const now = new Date();
    const state: ReviewState = {
      id,
      productId,
      ...aReview,
      createdAt: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    await commitEvent(
      fx.db,
      buildEvent({
        definition: ReviewCreatedV1,
        reviewId: id,
        productId,
        version: 1,
        previousSequence: 0,
        data: state,
        now,
        id: randomUUID(),
      }),
    );
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: id })).toBeNull();
    expect(await loadCurrent(fx.db, id)).toMatchObject({ version: 1, state });
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: id })).toMatchObject({
      version: 1,
      author: 'ada',
    });
  });

  it('re-applies the newest event when an older state overwrote a newer document (FerretDB read-then-overwrite race)', async () => {
    // given a review at version 2 (event and document)
    const review = await create();
    await fx.app.inject({ method: 'PATCH', url: `/reviews/${review.id}`, payload: { title: 'v2' } });
    const events = await reviewCollections(fx.db)
      .events.find({ reviewId: review.id })
      .sort({ version: 1 })
      .toArray();
    const [v1] = events;

    // when a slow writer's update for version 1 lands after version 2 (FerretDB does not lock: the
    // overwrite is simulated by writing the version-1 document directly) and it finishes its apply
    const { id, version, ...state } = review;
    await reviewCollections(fx.db).reviews.replaceOne(
      { _id: id },
      { ...state, version, sequence: v1!.sequence },
    );
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: review.id })).toMatchObject({ version: 1 });
    await applyEvent(fx.db, v1!);

    // then its post-write check found version 2 and put it back
    expect(await reviewCollections(fx.db).reviews.findOne({ _id: review.id })).toMatchObject({
      title: 'v2',
      version: 2,
    });
  });
});
