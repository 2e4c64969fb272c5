import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { REPO_ROOT } from '../src/migrate/migrator.js';

interface ComposeService {
  image?: string;
  ports?: string[];
}

const compose = parse(readFileSync(path.join(REPO_ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, ComposeService>;
};
const servicesScript = readFileSync(path.join(REPO_ROOT, 'scripts/services.sh'), 'utf8');

/** host port → service, as published on 127.0.0.1 by compose. */
function publishedPorts(): Map<number, string> {
  const ports = new Map<number, string>();
  for (const [name, service] of Object.entries(compose.services)) {
    for (const mapping of service.ports ?? []) {
      const parts = mapping.split(':');
      expect(parts[0], `${name} publishes on loopback only`).toBe('127.0.0.1');
      ports.set(Number(parts[1]), name);
    }
  }
  return ports;
}

describe('docker-compose.yml', () => {
  it('publishes the five stores on the ports of the native stack', () => {
    const ports = publishedPorts();
    expect(ports.get(54320)).toBe('catalog-store');
    expect(ports.get(54321)).toBe('read-primary');
    expect(ports.get(54322)).toBe('read-replica');
    expect(ports.get(27017)).toBe('reviews-store');
    expect(ports.get(9092)).toBe('broker');
  });

  it('uses the real images', () => {
    expect(compose.services['catalog-store']?.image).toMatch(/^postgres:/);
    expect(compose.services['read-replica']?.image).toMatch(/^postgres:/);
    expect(compose.services['reviews-store']?.image).toMatch(/^mongo:/);
    expect(compose.services.broker?.image).toMatch(/^apache\/kafka:/);
  });

  it('agrees with the addresses the native stack writes', () => {
    for (const port of [54320, 54321, 54322, 27017, 9092]) {
      expect(servicesScript, `services.sh writes an address with port ${port}`).toContain(`:-${port}}`);
    }
  });
});
