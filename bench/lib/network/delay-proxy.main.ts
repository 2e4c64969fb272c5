/**
 * The delay proxy as a process of its own, so the bytes it moves do not share an event loop with the
 * benchmark that measures them. Arguments: `<rttMs> <listenHost:port=targetHost:port> …`; prints
 * `ready` once every route listens, and exits on SIGTERM or when its parent goes.
 */
import { startDelayProxy, type DelayRoute } from './delay-proxy.js';

function endpoint(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(':');
  return { host: text.slice(0, at), port: Number(text.slice(at + 1)) };
}

const [rtt, ...specs] = process.argv.slice(2);
const routes: DelayRoute[] = specs.map((spec) => {
  const [listen, target] = spec.split('=');
  return { listen: endpoint(listen!), target: endpoint(target!) };
});
await startDelayProxy(routes, Number(rtt));
console.log('ready');
process.on('SIGTERM', () => process.exit(0));
process.on('disconnect', () => process.exit(0));
