import { describe, expect, it } from 'vitest';
import { defaultedParametersOptional } from '../../src/shared/openapi-defaults.js';

describe('defaultedParametersOptional', () => {
  it('given a query parameter with a default marked required, then it is optional; others keep their flag', () => {
    const document = {
      paths: {
        '/export/products': {
          get: {
            parameters: [
              { in: 'query', name: 'limit', required: true, schema: { type: 'integer', default: 100 } },
              { in: 'query', name: 'after', required: true, schema: { type: 'string' } },
              { in: 'path', name: 'id', required: true, schema: { type: 'string', default: 'x' } },
            ],
          },
        },
      },
    };
    const parameters = defaultedParametersOptional(document).paths['/export/products'].get.parameters;
    expect(parameters.map((p) => [p.name, p.required])).toEqual([
      ['limit', false],
      ['after', true],
      ['id', true],
    ]);
  });
});
