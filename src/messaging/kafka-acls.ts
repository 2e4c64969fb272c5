import { setTimeout as sleep } from 'node:timers/promises';
import type {
  AclEntry,
  AclOperationTypes,
  AclPermissionTypes,
  AclResourceTypes,
  Admin,
  ResourcePatternTypes,
} from 'kafkajs';

/** One permission to allow: `principal` may do `operation` on the topics or groups `name` selects. */
export interface AclGrant {
  /** A Kafka user name (the principal is `User:<user>`). */
  user: string;
  /** `cluster` has one name: `kafka-cluster`. */
  resource: 'topic' | 'group' | 'cluster';
  /** `prefixed`: every name that starts with `name`; `literal`: exactly `name`. */
  pattern: 'literal' | 'prefixed';
  name: string;
  operation: 'read' | 'write' | 'describe' | 'describe-configs' | 'idempotent-write';
}

// kafkajs's enums are not named exports of its CommonJS module under ESM: their values, from its
// src/protocol/acl*Types.js and resourcePatternTypes.js.
const RESOURCE = {
  topic: 2 as AclResourceTypes,
  group: 3 as AclResourceTypes,
  cluster: 4 as AclResourceTypes,
};
const PATTERN = { literal: 3 as ResourcePatternTypes, prefixed: 4 as ResourcePatternTypes };
const OPERATION = {
  read: 3 as AclOperationTypes,
  write: 4 as AclOperationTypes,
  describe: 8 as AclOperationTypes,
  'describe-configs': 10 as AclOperationTypes,
  'idempotent-write': 12 as AclOperationTypes,
};
const ALLOW = 3 as AclPermissionTypes;
const ANY_OPERATION = 1 as AclOperationTypes;

/**
 * Adds an ALLOW ACL (from any host) for each grant and resolves once the broker enforces them all.
 * Idempotent: the broker keeps one copy of an ACL created twice. Needs a principal allowed to alter
 * the cluster's ACLs (a super user).
 */
export async function grantAcls(admin: Admin, grants: AclGrant[], timeoutMs = 10_000): Promise<void> {
  if (grants.length === 0) return;
  const entries = grants.map(toAclEntry);
  await admin.createAcls({ acl: entries });
  // The controller commits them first; the broker's authorizer applies them a moment later, and a
  // client that came in between would be refused.
  const deadline = Date.now() + timeoutMs;
  while ((await missingAcls(admin, entries)) > 0) {
    if (Date.now() > deadline) throw new Error(`the broker does not list the new ACLs after ${timeoutMs} ms`);
    await sleep(50);
  }
}

/**
 * How many of `entries` the broker's authorizer does not list yet. One lookup per resource pattern,
 * so the answer stays small however many other ACLs the broker holds.
 */
async function missingAcls(admin: Admin, entries: AclEntry[]): Promise<number> {
  const patterns = new Map(entries.map((e) => [patternKey(e), e]));
  const listed = new Set<string>();
  for (const pattern of patterns.values()) {
    const { resources } = await admin.describeAcls({
      resourceType: pattern.resourceType,
      resourceName: pattern.resourceName,
      resourcePatternType: pattern.resourcePatternType,
      operation: ANY_OPERATION,
      permissionType: ALLOW,
    });
    for (const r of resources) for (const a of r.acls) listed.add(aclKey({ ...r, ...a }));
  }
  return entries.filter((e) => !listed.has(aclKey(e))).length;
}

function patternKey(e: AclEntry): string {
  return [e.resourceType, e.resourcePatternType, e.resourceName].join('\n');
}

function aclKey(e: AclEntry): string {
  return [e.resourceType, e.resourcePatternType, e.resourceName, e.principal, e.host, e.operation].join('\n');
}

function toAclEntry(grant: AclGrant): AclEntry {
  return {
    resourceType: RESOURCE[grant.resource],
    resourceName: grant.name,
    resourcePatternType: PATTERN[grant.pattern],
    principal: `User:${grant.user}`,
    host: '*',
    operation: OPERATION[grant.operation],
    permissionType: ALLOW,
  };
}
