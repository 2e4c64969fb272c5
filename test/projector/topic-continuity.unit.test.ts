import { describe, expect, it } from 'vitest';
import { describeBreak, positionBreaks, truncatedPartitions } from '../../src/projector/topic-continuity.js';

const offsets = (earliest: string, end: string, partition = 0) => ({ topic: 't', partition, earliest, end });
const stored = (offset: string, partition = 0) => ({ topic: 't', partition, offset });

describe('positionBreaks', () => {
  it('given positions within the offsets, then nothing breaks', () => {
    expect(
      positionBreaks([offsets('0', '10'), offsets('5', '5', 1)], [stored('10'), stored('5', 1)]),
    ).toEqual([]);
  });

  it('given a position past the end, then it is beyond-end with both offsets', () => {
    const [only] = positionBreaks([offsets('0', '3')], [stored('10')]);
    expect(only).toMatchObject({ kind: 'beyond-end', stored: '10', end: '3' });
    expect(describeBreak(only!)).toBe(
      't/0: stored next offset 10 is beyond the end offset 3 (topic deleted or recreated)',
    );
  });

  it('given a position below the earliest offset, or none while records were removed, then it is before-earliest', () => {
    expect(positionBreaks([offsets('4', '9'), offsets('2', '9', 1)], [stored('3')])).toMatchObject([
      { partition: 0, kind: 'before-earliest', stored: '3', earliest: '4' },
      { partition: 1, kind: 'before-earliest', stored: '0', earliest: '2' },
    ]);
  });

  it('given a position on a partition the topic no longer has, then it is beyond-end', () => {
    expect(positionBreaks([offsets('0', '0')], [stored('0'), stored('7', 3)])).toMatchObject([
      { partition: 3, kind: 'beyond-end', stored: '7', end: '0' },
    ]);
  });
});

describe('truncatedPartitions', () => {
  it('given partitions, then only those not starting at 0', () => {
    expect(truncatedPartitions([offsets('0', '5'), offsets('1', '5', 1)])).toEqual([offsets('1', '5', 1)]);
  });
});
