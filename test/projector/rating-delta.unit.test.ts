import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ReviewState } from '../../src/contracts/review.events.js';
import { planRatings, type StoredReview } from '../../src/projector/rating-delta.js';

const review = (productId: string, rating: number, createdAt = '2026-01-01T00:00:00.000Z'): ReviewState => ({
  id: randomUUID(),
  productId,
  author: 'a',
  rating,
  title: '',
  body: '',
  createdAt,
  updatedAt: createdAt,
});

describe('planRatings', () => {
  const p = randomUUID();
  const q = randomUUID();

  it('adds new reviews as increments, with the newest creation time', () => {
    const a = review(p, 5, '2026-01-02T00:00:00.000Z');
    const b = review(p, 3, '2026-01-03T00:00:00.000Z');
    const plan = planRatings(
      [
        { id: a.id, state: a },
        { id: b.id, state: b },
      ],
      [],
      new Map(),
      [],
    );
    expect(plan.recompute).toEqual([]);
    expect(plan.deltas).toEqual([
      { productId: p, count: 2, sum: 8, histogram: [0, 0, 1, 0, 1], newestAt: '2026-01-03T00:00:00.000Z' },
    ]);
  });

  it('moves an edited rating from its old bucket to the new one without counting the review again', () => {
    const edited = review(p, 2);
    const previous = new Map<string, StoredReview>([
      [edited.id, { productId: p, rating: 4, createdAt: new Date(edited.createdAt) }],
    ]);
    const plan = planRatings([{ id: edited.id, state: edited }], [], previous, []);
    expect(plan.deltas).toEqual([
      { productId: p, count: 0, sum: -2, histogram: [0, 1, 0, -1, 0], newestAt: null },
    ]);
  });

  it('leaves out an edit that kept its rating', () => {
    const edited = review(p, 4);
    const previous = new Map([[edited.id, { productId: p, rating: 4, createdAt: edited.createdAt }]]);
    expect(planRatings([{ id: edited.id, state: edited }], [], previous, [])).toEqual({
      deltas: [],
      recompute: [],
    });
  });

  it('recomputes products new to the view, products with deleted reviews and both ends of a moved review', () => {
    const fresh = randomUUID();
    const moved = review(q, 1);
    const deletedId = randomUUID();
    const other = randomUUID();
    const previous = new Map<string, StoredReview>([
      [moved.id, { productId: p, rating: 1, createdAt: moved.createdAt }],
      [deletedId, { productId: other, rating: 5, createdAt: moved.createdAt }],
    ]);
    const newReview = review(fresh, 5);
    const plan = planRatings(
      [
        { id: moved.id, state: moved },
        { id: newReview.id, state: newReview },
      ],
      [{ id: deletedId, productId: other }],
      previous,
      [fresh],
    );
    // the new product's review is not also added as an increment: the recompute counts it
    expect(plan.deltas).toEqual([]);
    expect(plan.recompute.sort()).toEqual([fresh, other, p, q].sort());
  });

  it('recomputes when an edit changes the creation time', () => {
    const edited = review(p, 3, '2026-02-01T00:00:00.000Z');
    const previous = new Map([
      [edited.id, { productId: p, rating: 3, createdAt: '2026-01-01T00:00:00.000Z' }],
    ]);
    expect(planRatings([{ id: edited.id, state: edited }], [], previous, []).recompute).toEqual([p]);
  });
});
