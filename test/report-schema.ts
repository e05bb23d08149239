/**
 * A small JSON Schema (2020-12 subset) validator, enough for
 * schema/trace.schema.json: type, const, enum, required, properties,
 * additionalProperties, items, minItems, minimum, oneOf, local $ref.
 * Kept in the tests so the schema and the writer cannot drift apart.
 */
type Schema = Record<string, unknown>;

function typeOk(t: string, x: unknown): boolean {
  switch (t) {
    case 'null':
      return x === null;
    case 'integer':
      return Number.isInteger(x);
    case 'number':
      return typeof x === 'number';
    case 'array':
      return Array.isArray(x);
    case 'object':
      return typeof x === 'object' && x !== null && !Array.isArray(x);
    default:
      return typeof x === t;
  }
}

export function validate(root: Schema, x: unknown, schema: Schema = root, path = '$'): string[] {
  if (typeof schema.$ref === 'string') {
    const m = /^#\/\$defs\/(.+)$/.exec(schema.$ref);
    if (!m) return [`${path}: unsupported $ref ${schema.$ref}`];
    return validate(root, x, (root.$defs as Record<string, Schema>)[m[1]!]!, path);
  }
  const errs: string[] = [];
  if ('const' in schema && JSON.stringify(schema.const) !== JSON.stringify(x)) errs.push(`${path}: expected ${JSON.stringify(schema.const)}`);
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(x))) errs.push(`${path}: not one of ${JSON.stringify(schema.enum)}`);
  if (schema.type !== undefined) {
    const ts = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!ts.some((t) => typeOk(t, x))) return [...errs, `${path}: expected type ${ts.join('|')}, got ${JSON.stringify(x)?.slice(0, 40)}`];
  }
  if (Array.isArray(schema.oneOf)) {
    const n = (schema.oneOf as Schema[]).filter((s) => validate(root, x, s, path).length === 0).length;
    if (n !== 1) errs.push(`${path}: matches ${n} of oneOf`);
  }
  if (typeof schema.minimum === 'number' && typeof x === 'number' && x < schema.minimum) errs.push(`${path}: below ${schema.minimum}`);
  if (typeOk('object', x)) {
    const o = x as Record<string, unknown>;
    for (const r of (schema.required as string[] | undefined) ?? []) if (!(r in o)) errs.push(`${path}: missing ${r}`);
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const [k, v] of Object.entries(o)) {
      if (props[k]) errs.push(...validate(root, v, props[k]!, `${path}.${k}`));
      else if (schema.additionalProperties === false) errs.push(`${path}: unexpected property ${k}`);
      else if (typeof schema.additionalProperties === 'object') errs.push(...validate(root, v, schema.additionalProperties as Schema, `${path}.${k}`));
    }
  }
  if (Array.isArray(x)) {
    if (typeof schema.minItems === 'number' && x.length < schema.minItems) errs.push(`${path}: fewer than ${schema.minItems} items`);
    if (schema.items) x.forEach((y, i) => errs.push(...validate(root, y, schema.items as Schema, `${path}[${i}]`)));
  }
  return errs;
}
