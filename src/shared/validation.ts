import { Ajv, type ErrorObject } from 'ajv';
import addFormatsImport from 'ajv-formats';
import type { FastifySchemaCompiler } from 'fastify';
import type { ErrorDetail } from './errors.js';

// ajv-formats is published as CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsImport as unknown as (ajv: Ajv) => Ajv;

function newAjv(coerceTypes: boolean | 'array'): Ajv {
  // removeAdditional stays off: an unknown field is an error, never silently dropped.
  const ajv = new Ajv({
    allErrors: true,
    coerceTypes,
    useDefaults: true,
    removeAdditional: false,
    strict: false,
  });
  addFormats(ajv);
  return ajv;
}

/**
 * Bodies are validated strictly (a string is never taken for a number); query strings, params and
 * headers arrive as text, so their scalar types are coerced.
 */
export function createValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const strict = newAjv(false);
  const coercing = newAjv('array');
  return ({ schema, httpPart }) => {
    const ajv = httpPart === 'body' ? strict : coercing;
    return ajv.compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>;
  };
}

/** Turns ajv errors into details that name the field, e.g. `body/price/amount: must be >= 0`. */
export function detailsFromAjv(errors: readonly Partial<ErrorObject>[], part = ''): ErrorDetail[] {
  return errors.map((error) => {
    let field = `${part}${error.instancePath ?? ''}`;
    const params = error.params as Record<string, unknown> | undefined;
    if (error.keyword === 'additionalProperties' && typeof params?.additionalProperty === 'string') {
      field = `${field}/${params.additionalProperty}`;
      return { field, message: `unknown field "${params.additionalProperty}"` };
    }
    if (error.keyword === 'propertyNames' && typeof params?.propertyName === 'string') {
      field = `${field}/${params.propertyName}`;
      return { field, message: 'is not an allowed key' };
    }
    if (error.keyword === 'required' && typeof params?.missingProperty === 'string') {
      field = `${field}/${params.missingProperty}`;
      return { field, message: 'is required' };
    }
    return { field, message: error.message ?? 'is invalid' };
  });
}
