import http from 'node:http';
import { authHeader } from './auth.js';

export interface HttpAnswer {
  status: number;
  /** The `Locus-Consistency-Token` header of a write, when it has one. */
  token: string | undefined;
  body: string;
}

/**
 * A keep-alive HTTP client over node:http, which costs a load generator less CPU than fetch and so
 * leaves more of the machine to locus. `destroy()` closes its sockets at the end of a run.
 */
export class HttpClient {
  private readonly agent: http.Agent;

  constructor(maxSockets: number) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /** Sends one request and resolves with its whole answer, whatever its status. */
  send(method: string, url: string, body?: unknown): Promise<HttpAnswer> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve, reject) => {
      const request = http.request(
        url,
        {
          method,
          agent: this.agent,
          timeout: 60_000,
          headers: payload
            ? {
                'content-type': 'application/json',
                'content-length': Buffer.byteLength(payload),
                ...authHeader(),
              }
            : authHeader(),
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => {
            const token = response.headers['locus-consistency-token'];
            resolve({
              status: response.statusCode ?? 0,
              token: Array.isArray(token) ? token[0] : token,
              body: Buffer.concat(chunks).toString(),
            });
          });
          response.on('error', reject);
        },
      );
      request.on('timeout', () => request.destroy(new Error(`${method} ${url} timed out`)));
      request.on('error', reject);
      request.end(payload);
    });
  }

  /** As `send`. @throws Error with the status and the body's start when the answer is not 2xx. */
  async sendOk(method: string, url: string, body?: unknown): Promise<HttpAnswer> {
    const answer = await this.send(method, url, body);
    if (answer.status >= 300)
      throw new Error(`${method} ${url} → ${answer.status} ${answer.body.slice(0, 300)}`);
    return answer;
  }

  destroy(): void {
    this.agent.destroy();
  }
}
