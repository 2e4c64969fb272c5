import { describe, expect, it } from 'vitest';
import { summaryOf } from '../../src/cli/fuzz.schemathesis.js';

// Trimmed from a real schemathesis 4.32.5 run (scripts/fuzz/run.sh).
const OUTPUT = `
=================================== FAILURES ===================================
_____________________________ GET /export/products _____________________________
1. Test Case ID: lsWxVD

- ST201 Schema-violating request accepted

    Invalid data should have been rejected
____________________________ PATCH /categories/{id} ____________________________
1. Test Case ID: qs53zO

- ST101 Server error

- ST103 Undocumented status code

2. Test Case ID: abcdef

- ST101 Server error
=================================== SUMMARY ====================================

Test cases:
  4603 generated, 2 found 2 unique failures
`;

describe('summary of a schemathesis run', () => {
  it('reads the test cases generated and, per operation, each kind of failure once', () => {
    expect(summaryOf(OUTPUT)).toEqual({
      testCases: 4603,
      failures: [
        'GET /export/products: ST201 Schema-violating request accepted',
        'PATCH /categories/{id}: ST101 Server error; ST103 Undocumented status code',
      ],
    });
  });

  it('reads a clean run as no failures', () => {
    expect(summaryOf('Test cases:\n  566 generated, 0 found 0 unique failures\n')).toEqual({
      testCases: 566,
      failures: [],
    });
  });
});
