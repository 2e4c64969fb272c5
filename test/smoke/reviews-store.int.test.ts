import { MongoClient, MongoServerError } from 'mongodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { uniqueMongoUrl } from '../../testkit/isolation.js';

describe('reviews store (MongoDB wire protocol)', () => {
  const { url, database } = uniqueMongoUrl();
  let client: MongoClient;

  beforeAll(async () => {
    client = await new MongoClient(url).connect();
  });

  afterAll(async () => {
    await client.db(database).dropDatabase();
    await client.close();
  });

  it('inserts and finds a document', async () => {
    const things = client.db(database).collection<{ _id: string; rating: number }>('things');
    await things.insertOne({ _id: 'r1', rating: 4 });
    expect(await things.findOne({ _id: 'r1' })).toEqual({ _id: 'r1', rating: 4 });
  });

  it('enforces a unique index with duplicate-key error 11000', async () => {
    const events = client.db(database).collection('events');
    await events.createIndex({ reviewId: 1, version: 1 }, { unique: true });
    await events.insertOne({ reviewId: 'r1', version: 1 });
    const duplicate = await events.insertOne({ reviewId: 'r1', version: 1 }).catch((error: unknown) => error);
    expect(duplicate).toBeInstanceOf(MongoServerError);
    expect((duplicate as MongoServerError).code).toBe(11000);
  });
});
