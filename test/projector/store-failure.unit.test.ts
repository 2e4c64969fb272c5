import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isInfrastructureError } from '../../src/projector/store-failure.js';

/** An error as pg raises it for a server's ErrorResponse with `code`. */
function serverError(code: string): pg.DatabaseError {
  const error = new pg.DatabaseError('from the server', 0, 'error');
  error.code = code;
  return error;
}

describe('isInfrastructureError', () => {
  it.each([
    ['08000', 'connection exception'],
    ['08003', 'connection does not exist'],
    ['08006', 'connection failure'],
    ['28P01', 'password refused'],
    ['3D000', 'database does not exist'],
    ['40001', 'serialization failure'],
    ['40P01', 'deadlock detected'],
    ['53100', 'disk full'],
    ['53300', 'too many connections'],
    ['55P03', 'lock not available'],
    ['57014', 'statement timeout'],
    ['57P01', 'admin shutdown'],
    ['57P03', 'cannot connect now (starting up)'],
    ['58030', 'I/O error'],
    ['XX000', 'internal error'],
    ['25P03', 'idle in transaction session timeout'],
  ])('takes SQLSTATE %s (%s) for an outage: the batch is redelivered', (code) => {
    expect(isInfrastructureError(serverError(code))).toBe(true);
  });

  it.each([
    ['08P01', 'protocol violation: a U+0000 in a simple-protocol text'],
    ['22003', 'numeric value out of range'],
    ['22021', 'invalid byte sequence (a U+0000 in a bound text)'],
    ['22P02', 'invalid text representation'],
    ['22P05', 'untranslatable character'],
    ['23505', 'unique violation'],
    ['23514', 'check violation'],
    ['42601', 'syntax error'],
    ['42703', 'undefined column'],
    ['42P01', 'undefined table'],
    ['0A000', 'feature not supported'],
    ['54000', 'program limit exceeded'],
    ['P0001', 'raised by a trigger'],
    ['25001', 'active sql transaction'],
  ])('takes SQLSTATE %s (%s) for a deterministic failure: isolated and parked', (code) => {
    expect(isInfrastructureError(serverError(code))).toBe(false);
  });

  it("takes Node's system errors and pg's connection errors for outages, not programming errors", () => {
    expect(isInfrastructureError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isInfrastructureError(Object.assign(new Error('reset'), { code: 'ECONNRESET' }))).toBe(true);
    expect(isInfrastructureError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isInfrastructureError(Object.assign(new TypeError('bad'), { code: 'ERR_INVALID_ARG_TYPE' }))).toBe(
      false,
    );
    expect(isInfrastructureError(new TypeError('x'))).toBe(false);
    expect(isInfrastructureError(null)).toBe(false);
  });
});
