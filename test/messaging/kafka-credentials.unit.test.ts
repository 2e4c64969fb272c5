import { describe, expect, it } from 'vitest';
import { kafkaCredentials, saslOptions } from '../../src/messaging/kafka-credentials.js';

describe('kafkaCredentials', () => {
  it('reads the user and password of the role', () => {
    const env = { LOCUS_KAFKA_RELAY_USER: 'relay', LOCUS_KAFKA_RELAY_PASSWORD: 'secret' };
    expect(kafkaCredentials('relay', env)).toEqual({ username: 'relay', password: 'secret' });
    expect(saslOptions(kafkaCredentials('relay', env))).toEqual({
      mechanism: 'scram-sha-512',
      username: 'relay',
      password: 'secret',
    });
  });

  it('means no SASL when neither is set (an env file from before the broker required it)', () => {
    expect(kafkaCredentials('projector', {})).toBeUndefined();
    expect(saslOptions(undefined)).toBeUndefined();
  });

  it('names the missing half when only one is set', () => {
    expect(() => kafkaCredentials('admin', { LOCUS_KAFKA_ADMIN_USER: 'admin' })).toThrow(
      /LOCUS_KAFKA_ADMIN_PASSWORD/,
    );
  });
});
