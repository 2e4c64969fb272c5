import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../../../src/migrate/migrator.js';
import { ownerOf, planLink, type LinkPlan } from './link.plan.js';
import { startProbeServer } from './probe.server.js';
import type { NetworkProfile } from './profiles.js';

const run = promisify(execFile);
const PROXY_PRIORITY = -10;

/** A backend the process behind the link reaches: its name and where it listens on this host. */
export interface LinkRoute {
  name: string;
  host: string;
  port: number;
}

/**
 * Why this host cannot build a link (not root, no `ip netns`), or undefined when it can. Tests skip
 * with this reason; the benchmark stops with it.
 */
export async function linkUnavailableReason(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'network profiles need root (ip netns, tc)';
  try {
    await run('ip', ['netns', 'list']);
    await run('tc', ['-V']);
    return undefined;
  } catch (error) {
    return `ip netns or tc is not usable here: ${String(error)}`;
  }
}

/**
 * Removes the namespaces an earlier run of this harness left behind when that run's process is gone
 * (a crash, a SIGKILL). Links of live runs, and anything not named by this harness, are left alone.
 * Returns the names removed.
 */
export async function removeLeftoverLinks(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  const removed: string[] = [];
  for (const line of stdout.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    const owner = ownerOf(name);
    if (owner === undefined || isAlive(owner)) continue;
    await run('ip', ['netns', 'del', name]);
    removed.push(name);
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The network between a service and its backends for one profile. For `loopback` it is nothing: the
 * service runs as before and reaches each backend where it listens. For a shaped profile the service
 * runs in a namespace of its own (start it with `launcher` before its command); it reaches each
 * backend at `reach(name)`, an address on the shaped veth where the delay proxy listens, and clients
 * reach the service at `serviceHost` over an unshaped veth. `close()` stops the proxy and removes the
 * namespace with its veths; it is safe to call twice.
 */
export class NetworkLink {
  private constructor(
    readonly profile: NetworkProfile,
    private readonly routes: Map<string, LinkRoute>,
    private readonly plan: LinkPlan | undefined,
    private readonly proxy: ChildProcess | undefined,
    private readonly closeProbe: () => Promise<void> = async () => undefined,
  ) {}

  /**
   * Builds the link and starts its delay proxy; on any failure removes what it built and throws.
   * @throws Error when the host cannot build links (see linkUnavailableReason) or a command fails.
   */
  static async open(profile: NetworkProfile, routes: LinkRoute[]): Promise<NetworkLink> {
    const byName = new Map(routes.map((route) => [route.name, route]));
    if (profile.bitsPerSecond === undefined) return new NetworkLink(profile, byName, undefined, undefined);
    const reason = await linkUnavailableReason();
    if (reason) throw new Error(reason);
    await removeLeftoverLinks();
    const plan = planLink(profile, randomBytes(3).toString('hex'), await freeSubnet(), process.pid);
    // The self-check's far end, routed like every backend (see self-check.ts).
    const probe = await startProbeServer();
    byName.set('probe', { name: 'probe', host: '127.0.0.1', port: probe.port });
    let proxy: ChildProcess | undefined;
    try {
      for (const command of plan.setup) await run(command[0]!, command.slice(1));
      proxy = await startProxyProcess(
        profile.rttMs,
        [...byName.values()].map(
          (route) => `${plan.backend.hostAddress}:${route.port}=${route.host}:${route.port}`,
        ),
      );
      return new NetworkLink(profile, byName, plan, proxy, probe.close);
    } catch (error) {
      proxy?.kill('SIGKILL');
      await removePlan(plan);
      await probe.close();
      throw error;
    }
  }

  /** The command prefix that runs a process behind the link: `ip netns exec <namespace>`, or none. */
  get launcher(): string[] {
    return this.plan ? ['ip', 'netns', 'exec', this.plan.namespace] : [];
  }

  /** The address the service behind the link listens on and clients call it at. */
  get serviceHost(): string {
    return this.plan?.client.insideAddress ?? '127.0.0.1';
  }

  /** The namespace, for logs; undefined for loopback. */
  get namespace(): string | undefined {
    return this.plan?.namespace;
  }

  /** Where the process behind the link reaches backend `name`. @throws Error for a route not given. */
  reach(name: string): { host: string; port: number } {
    const route = this.routes.get(name);
    if (!route) throw new Error(`no route named ${name} on this link`);
    return { host: this.plan?.backend.hostAddress ?? route.host, port: route.port };
  }

  /** `postgres://u:p@127.0.0.1:54322/db` → the same URL through the link (route named by its port). */
  reachUrl(url: string, name: string): string {
    const parsed = new URL(url);
    const { host, port } = this.reach(name);
    parsed.hostname = host;
    parsed.port = String(port);
    return parsed.toString();
  }

  async close(): Promise<void> {
    if (this.proxy && this.proxy.exitCode === null && this.proxy.signalCode === null) {
      const exited = new Promise((resolve) => this.proxy!.once('exit', resolve));
      this.proxy.kill('SIGTERM');
      await exited;
    }
    if (this.plan) await removePlan(this.plan);
    await this.closeProbe();
  }
}

async function removePlan(plan: LinkPlan): Promise<void> {
  for (const command of plan.teardown) await run(command[0]!, command.slice(1)).catch(() => undefined);
}

/** A 10.203.N.0/29 no interface of this host uses yet. */
async function freeSubnet(): Promise<number> {
  const { stdout } = await run('ip', ['-o', 'addr', 'show']);
  for (let attempt = 0; attempt < 50; attempt++) {
    const subnet = 1 + Math.floor(Math.random() * 250);
    if (!stdout.includes(`10.203.${subnet}.`)) return subnet;
  }
  throw new Error('no free 10.203.N.0/29 subnet for a benchmark link');
}

/** Starts bench/lib/network/delay-proxy.main as a child process and waits for its `ready`. */
async function startProxyProcess(rttMs: number, specs: string[]): Promise<ChildProcess> {
  const self = fileURLToPath(import.meta.url);
  const main = self.replace(/network-link\.(ts|js)$/, 'delay-proxy.main.$1');
  const loader = self.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const child = spawn(process.execPath, [...loader, main, String(rttMs), ...specs], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  child.channel?.unref();
  // The proxy stands in for network hardware, which takes no CPU from the hosts at either end: on a
  // busy host it goes first, so the link keeps its rate.
  os.setPriority(child.pid!, PROXY_PRIORITY);
  await new Promise<void>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('ready')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`the delay proxy exited with ${code}: ${output}`)));
  });
  return child;
}
