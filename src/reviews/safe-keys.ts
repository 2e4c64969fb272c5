import { isUnsafeKey } from '../contracts/bounds.js';
import { LocusError } from '../shared/errors.js';

/**
 * Refuses any object key that MongoDB would read as an operator (`$set`, `$where`) or a path
 * (`a.b`), at any depth of user input. The route schemas already allow no free-form objects, so this
 * is a second, explicit line: it runs before validation and before anything reaches the driver.
 * @throws LocusError LOCUS_UNSAFE_KEY naming the first offending key as a JSON pointer.
 */
export function assertSafeKeys(value: unknown, path: string): void {
  if (Array.isArray(value)) {
    value.forEach((item, index) => assertSafeKeys(item, `${path}/${index}`));
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, child] of Object.entries(value)) {
    const field = `${path}/${key}`;
    if (isUnsafeKey(key)) {
      throw new LocusError('LOCUS_UNSAFE_KEY', `${field}: keys may not start with "$" or contain "."`, {
        details: [{ field, message: 'key starts with "$" or contains "."' }],
      });
    }
    assertSafeKeys(child, field);
  }
}
