#!/usr/bin/env python3
"""Checks one JSON answer of airlockd against docs/openapi.yaml (tests/integration/test_openapi.c).

  openapi_check.py SPEC METHOD PATH STATUS < body.json
      the schema of the application/json content the spec documents for that operation's
      response STATUS (PATH is the documented template, e.g. /v1/jobs/{id}; HEAD uses GET's)
  openapi_check.py SPEC '#/components/...' < body.json
      a schema, or a response object, named by reference (for answers no operation can carry:
      a 404 for an unknown path, a 405 for a method the path does not serve)

The instance must match the schema strictly: a field the schema does not list (unless its
additionalProperties allows it) is reported as undocumented, a required field that is absent as
missing, and a value whose type, enum, pattern, bounds or date-time format does not match as
such, each named by its JSON path ($.jobs[0].usage.cpu_ms). $ref (also beside other keys, as
3.1 allows), allOf, oneOf, anyOf, 3.0's nullable and 3.1's type arrays with "null" are resolved.
Exit 0 when it matches, 1 when it does not (one line per problem), 2 on a usage error.

PyYAML (Debian: python3-yaml); nothing else outside the standard library.
"""
import json
import re
import sys

import yaml

DATE_TIME = re.compile(r'^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$')


class Checker:
    def __init__(self, spec):
        self.spec = spec

    def ref(self, ref):
        if not ref.startswith('#/'):
            raise ValueError('%s: only local references are supported' % ref)
        node = self.spec
        for part in ref[2:].split('/'):
            part = part.replace('~1', '/').replace('~0', '~')
            if not isinstance(node, dict) or part not in node:
                raise ValueError('%s: no such element in the spec' % ref)
            node = node[part]
        return node

    def resolve(self, schema):
        """The schema with its $ref followed and its allOf merged into one object schema."""
        seen = 0
        while isinstance(schema, dict) and '$ref' in schema:
            target = self.ref(schema['$ref'])
            rest = {k: v for k, v in schema.items() if k != '$ref'}
            schema = {'allOf': [target, rest]} if rest else target
            seen += 1
            if seen > 64:
                raise ValueError('a $ref loop')
        if not isinstance(schema, dict):
            return {}
        if 'allOf' in schema:
            merged = {k: v for k, v in schema.items() if k != 'allOf'}
            props = dict(merged.get('properties') or {})
            required = list(merged.get('required') or [])
            for part in schema['allOf']:
                part = self.resolve(part)
                for k, v in part.items():
                    if k == 'properties':
                        props.update(v)
                    elif k == 'required':
                        required += v
                    elif k not in merged:
                        merged[k] = v
            if props:
                merged['properties'] = props
            if required:
                merged['required'] = required
            schema = merged
        return schema

    @staticmethod
    def types(schema):
        t = schema.get('type')
        if t is None:
            return None
        ts = set(t) if isinstance(t, list) else {t}
        if schema.get('nullable'):
            ts.add('null')
        return ts

    @staticmethod
    def type_of(v):
        if v is None:
            return 'null'
        if isinstance(v, bool):
            return 'boolean'
        if isinstance(v, int):
            return 'integer'
        if isinstance(v, float):
            return 'number'
        if isinstance(v, str):
            return 'string'
        if isinstance(v, list):
            return 'array'
        return 'object'

    def check(self, schema, v, path):
        """Problems of v against schema, as (path, message) pairs."""
        schema = self.resolve(schema)
        for key in ('oneOf', 'anyOf'):
            if key in schema:
                best = None
                for alt in schema[key]:
                    probs = self.check(alt, v, path)
                    if not probs:
                        return []  # the alternative is the whole schema of v
                    if best is None or len(probs) < len(best):
                        best = probs
                return [(path, 'matches none of %s; the closest:' % key)] + best
        ts = self.types(schema)
        vt = self.type_of(v)
        if v is None:
            if ts is None and 'enum' not in schema:
                return []
            if (ts and 'null' in ts) or None in (schema.get('enum') or []):
                return []
            return [(path, 'null, documented as %s (not nullable)' % '/'.join(sorted(ts or {'an enum'})))]
        if ts is not None:
            ok = vt in ts or (vt == 'integer' and 'number' in ts)
            if not ok:
                return [(path, '%s %s, documented as %s' % (vt, json.dumps(v)[:80], '/'.join(sorted(ts))))]
        probs = []
        if 'enum' in schema and v not in schema['enum']:
            probs.append((path, '%s is not one of the documented values %s' % (json.dumps(v), json.dumps(schema['enum']))))
        if 'const' in schema and v != schema['const']:
            probs.append((path, '%s, documented as the constant %s' % (json.dumps(v), json.dumps(schema['const']))))
        if vt == 'string':
            if 'pattern' in schema and not re.search(schema['pattern'], v):
                probs.append((path, '%s does not match the documented pattern %s' % (json.dumps(v), schema['pattern'])))
            if schema.get('format') == 'date-time' and not DATE_TIME.match(v):
                probs.append((path, '%s is not an RFC 3339 date-time' % json.dumps(v)))
            if 'minLength' in schema and len(v) < schema['minLength']:
                probs.append((path, 'shorter than the documented minLength %d' % schema['minLength']))
            if 'maxLength' in schema and len(v) > schema['maxLength']:
                probs.append((path, 'longer than the documented maxLength %d' % schema['maxLength']))
        if vt in ('integer', 'number'):
            if 'minimum' in schema and v < schema['minimum']:
                probs.append((path, '%s is below the documented minimum %s' % (v, schema['minimum'])))
            if 'maximum' in schema and v > schema['maximum']:
                probs.append((path, '%s is above the documented maximum %s' % (v, schema['maximum'])))
        if vt == 'object':
            props = schema.get('properties') or {}
            for name in schema.get('required') or []:
                if name not in v:
                    probs.append(('%s.%s' % (path, name), 'required, and missing'))
            extra = schema.get('additionalProperties', False)
            for name, value in v.items():
                sub = '%s.%s' % (path, name) if re.match(r'^[A-Za-z_][A-Za-z0-9_]*$', name) else '%s[%s]' % (path, json.dumps(name))
                if name in props:
                    probs += self.check(props[name], value, sub)
                elif extra is True or (isinstance(extra, dict) and not extra):
                    continue
                elif isinstance(extra, dict):
                    probs += self.check(extra, value, sub)
                else:
                    probs.append((sub, 'not documented (%s)' % json.dumps(value)[:80]))
        if vt == 'array':
            if 'maxItems' in schema and len(v) > schema['maxItems']:
                probs.append((path, '%d items, over the documented maxItems %d' % (len(v), schema['maxItems'])))
            if 'minItems' in schema and len(v) < schema['minItems']:
                probs.append((path, '%d items, under the documented minItems %d' % (len(v), schema['minItems'])))
            if 'items' in schema:
                for i, item in enumerate(v):
                    probs += self.check(schema['items'], item, '%s[%d]' % (path, i))
        return probs

    def json_schema_of(self, response, where):
        """The application/json schema of a response object (its $ref followed)."""
        while '$ref' in response:
            response = self.ref(response['$ref'])
        content = response.get('content') or {}
        for ctype, media in content.items():
            base = ctype.split(';')[0].strip().lower()
            if base == 'application/json' or base.endswith('+json'):
                if 'schema' not in media:
                    raise LookupError('%s: %s has no schema' % (where, ctype))
                return media['schema']
        raise LookupError('%s: documents no JSON body (content: %s)' % (where, ', '.join(content) or 'none'))

    def operation_schema(self, method, path, status):
        paths = self.spec.get('paths') or {}
        if path not in paths:
            raise LookupError('%s: not a path of the spec' % path)
        item = paths[path]
        m = method.lower()
        if m == 'head' and 'head' not in item:
            m = 'get'
        if m not in item:
            raise LookupError('%s %s: the spec has no such operation' % (method, path))
        responses = item[m].get('responses') or {}
        key = str(status)
        where = '%s %s %s' % (method, path, key)
        if key not in responses:
            key = key[0] + 'XX'
        if key not in responses:
            key = 'default'
        if key not in responses:
            raise LookupError('%s: status not documented (documented: %s)' % (where, ', '.join(sorted(str(k) for k in responses))))
        return self.json_schema_of(responses[key], where)


def main(argv):
    if len(argv) not in (3, 5):
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding='utf-8') as f:
        spec = yaml.safe_load(f)
    checker = Checker(spec)
    text = sys.stdin.read()
    try:
        if len(argv) == 3:
            node = checker.ref(argv[2])
            what = argv[2]
            schema = checker.json_schema_of(node, what) if 'content' in node or (
                '$ref' in node and 'content' in checker.ref(node['$ref'])) else node
        else:
            what = '%s %s %s' % (argv[2], argv[3], argv[4])
            schema = checker.operation_schema(argv[2], argv[3], argv[4])
    except (LookupError, ValueError) as e:
        print(e.args[0])
        return 1
    try:
        instance = json.loads(text)
    except ValueError as e:
        print('%s: the body is not JSON (%s): %.200s' % (what, e, text))
        return 1
    try:
        probs = checker.check(schema, instance, '$')
    except ValueError as e:
        print('%s: %s' % (what, e))
        return 1
    for path, msg in probs:
        print('%s: %s: %s' % (what, path, msg))
    return 1 if probs else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
