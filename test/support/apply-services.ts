import { inject } from 'vitest';

// Integration tests and the code under test read addresses from LOCUS_* like every locus process.
Object.assign(process.env, inject('services'));
