import { describe, expect, it } from 'vitest';
import { topicAcls } from '../../src/contracts/topic-acls.js';

const grants = topicAcls({
  prefix: 'locus.',
  relayUser: 'relay',
  projectorUser: 'projector',
  projectorGroup: 'locus-projector',
});
const of = (user: string) =>
  grants.filter((g) => g.user === user).map((g) => `${g.operation} ${g.resource} ${g.pattern} ${g.name}`);

describe('topicAcls', () => {
  it('lets the relay write and describe the topics under the prefix, and nothing else', () => {
    expect(of('relay').sort()).toEqual([
      'describe topic prefixed locus.',
      'describe-configs topic prefixed locus.',
      'idempotent-write cluster literal kafka-cluster',
      'write topic prefixed locus.',
    ]);
  });

  it('lets the projector read the topics in its groups and write only its dead-letter topic', () => {
    expect(of('projector').sort()).toEqual([
      'describe topic prefixed locus.',
      'idempotent-write cluster literal kafka-cluster',
      'read group prefixed locus-projector',
      'read topic prefixed locus.',
      'write topic literal locus.dead-letter',
    ]);
  });
});
