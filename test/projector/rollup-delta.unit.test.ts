import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ReviewState } from '../../src/contracts/review.events.js';
import { planRollups } from '../../src/projector/rollup-delta.js';
import type { StoredReview } from '../../src/projector/rating-delta.js';

const review = (productId: string, rating: number, createdAt = '2026-01-01T10:00:00.000Z'): ReviewState => ({
  id: randomUUID(),
  productId,
  author: 'a',
  rating,
  title: '',
  body: '',
  createdAt,
  updatedAt: createdAt,
});

const none = { reviewUpserts: [], reviewDeletes: [], productUpserts: [], productDeletes: [] };

describe('planRollups', () => {
  const p = randomUUID();
  const q = randomUUID();

  it('puts a new review in, and takes an edited one out of its old product, day and rating first', () => {
    const fresh = review(p, 4);
    const moved = { ...review(q, 2, '2026-01-03T23:59:59.999Z'), id: randomUUID() };
    const before: StoredReview = { productId: p, rating: 5, createdAt: new Date('2026-01-02T00:00:00.000Z') };
    const plan = planRollups(
      {
        ...none,
        reviewUpserts: [
          { id: fresh.id, state: fresh },
          { id: moved.id, state: moved },
        ],
      },
      new Map([[moved.id, before]]),
      new Map(),
    );
    expect(plan.reviews).toEqual([
      { productId: p, createdAt: fresh.createdAt, rating: 4, sign: 1 },
      { ...before, sign: -1 },
      { productId: q, createdAt: moved.createdAt, rating: 2, sign: 1 },
    ]);
    expect(plan.moves).toEqual([]);
  });

  it('takes a deleted review out only when review_view held it', () => {
    const held = randomUUID();
    const before: StoredReview = { productId: p, rating: 1, createdAt: '2026-01-05T08:00:00.000Z' };
    const plan = planRollups(
      { ...none, reviewDeletes: [{ id: held }, { id: randomUUID() }] },
      new Map([[held, before]]),
      new Map(),
    );
    expect(plan.reviews).toEqual([{ ...before, sign: -1 }]);
  });

  it('moves a product created, recategorised, uncategorised or deleted; not one that kept its category', () => {
    const [created, recategorised, uncategorised, deleted, kept] = [1, 2, 3, 4, 5].map(() => randomUUID());
    const plan = planRollups(
      {
        ...none,
        productUpserts: [
          { id: created!, state: { categoryId: 'c1' } },
          { id: recategorised!, state: { categoryId: 'c2' } },
          { id: uncategorised!, state: { categoryId: null } },
          { id: kept!, state: { categoryId: 'c1' } },
        ],
        productDeletes: [{ id: deleted! }],
      },
      new Map(),
      new Map([
        [recategorised!, { category_id: 'c1' }],
        [uncategorised!, { category_id: 'c1' }],
        [deleted!, { category_id: null }],
        [kept!, { category_id: 'c1' }],
      ]),
    );
    expect(plan.moves).toEqual([
      {
        productId: created,
        before: { exists: false, categoryId: null },
        after: { exists: true, categoryId: 'c1' },
      },
      {
        productId: recategorised,
        before: { exists: true, categoryId: 'c1' },
        after: { exists: true, categoryId: 'c2' },
      },
      {
        productId: uncategorised,
        before: { exists: true, categoryId: 'c1' },
        after: { exists: true, categoryId: null },
      },
      {
        productId: deleted,
        before: { exists: true, categoryId: null },
        after: { exists: false, categoryId: null },
      },
    ]);
  });
});
