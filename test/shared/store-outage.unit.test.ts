import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { isConnectionFailure, isStoreOutage } from '../../src/shared/store-outage.js';

/** An error as pg raises it for a server's ErrorResponse with `code`. */
function serverError(code: string): pg.DatabaseError {
  const error = new pg.DatabaseError('from the server', 0, 'error');
  error.code = code;
  return error;
}

const systemError = (code: string) => Object.assign(new Error(code), { code });

describe('isStoreOutage', () => {
  it.each([
    ['08000', 'connection exception'],
    ['08003', 'connection does not exist'],
    ['08006', 'connection failure'],
    ['28P01', 'password refused'],
    ['3D000', 'database does not exist'],
    ['40001', 'serialization failure (and recovery conflicts on a replica)'],
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
  ])('takes SQLSTATE %s (%s) for an outage', (code) => {
    expect(isStoreOutage(serverError(code))).toBe(true);
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
  ])('takes SQLSTATE %s (%s) for a deterministic failure', (code) => {
    expect(isStoreOutage(serverError(code))).toBe(false);
  });

  it.each(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'])(
    "takes Node's system error %s for an outage",
    (code) => {
      expect(isStoreOutage(systemError(code))).toBe(true);
    },
  );

  it.each([
    'Connection terminated unexpectedly',
    'timeout exceeded when trying to connect',
    'Connection terminated due to connection timeout',
    'Client has encountered a connection error and is not queryable',
  ])("takes pg's connection error %j for an outage", (message) => {
    expect(isStoreOutage(new Error(message))).toBe(true);
  });

  it('takes programming errors and non-errors for no outage', () => {
    expect(isStoreOutage(systemError('ERR_INVALID_ARG_TYPE'))).toBe(false);
    expect(isStoreOutage(new TypeError('x'))).toBe(false);
    expect(isStoreOutage(null)).toBe(false);
    expect(isStoreOutage(undefined)).toBe(false);
    expect(isStoreOutage('ECONNREFUSED')).toBe(false);
  });
});

describe('isConnectionFailure', () => {
  it('is the connection part only: class 08 and system errors, not server-chosen rollbacks', () => {
    expect(isConnectionFailure(serverError('08006'))).toBe(true);
    expect(isConnectionFailure(systemError('ECONNRESET'))).toBe(true);
    expect(isConnectionFailure(new Error('timeout exceeded when trying to connect'))).toBe(true);
    expect(isConnectionFailure(serverError('08P01'))).toBe(false);
    expect(isConnectionFailure(serverError('40001'))).toBe(false);
    expect(isConnectionFailure(serverError('57P01'))).toBe(false);
  });
});
