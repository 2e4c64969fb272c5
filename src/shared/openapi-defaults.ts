interface Parameter {
  in?: string;
  required?: boolean;
  schema?: { default?: unknown };
}

/**
 * A query or header parameter with a default may be left out: the validator fills the default in.
 * Fastify's schema-to-OpenAPI step marks every non-optional property `required`, so the document
 * would demand what the server never does; this clears `required` wherever a default stands.
 */
export function defaultedParametersOptional<D extends { paths?: object }>(document: D): D {
  for (const path of Object.values(document.paths ?? {}) as Record<string, unknown>[]) {
    for (const operation of Object.values(path ?? {})) {
      const parameters = (operation as { parameters?: unknown } | null)?.parameters;
      if (!Array.isArray(parameters)) continue;
      for (const parameter of parameters as Parameter[]) {
        if (parameter.in !== 'path' && parameter.required && parameter.schema?.default !== undefined)
          parameter.required = false;
      }
    }
  }
  return document;
}
