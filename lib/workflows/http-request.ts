// u_writeback_http: one HTTP request on behalf of a guest, only to allowed hosts, with a timeout,
// no redirects (a redirect could leave the allow-list) and a bounded response.

export interface HttpPolicy {
  /** `host`, `host:port`, or `*` for any; empty: no requests at all. */
  allow: readonly string[];
  timeoutMs: number;
  maxResponseBytes: number;
}

const METHODS = ['GET', 'POST', 'PUT', 'DELETE'] as const;

export function hostAllowed(url: URL, allow: readonly string[]): boolean {
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return allow.some((entry) => {
    if (entry === '*') return true;
    const lower = entry.toLowerCase();
    const colon = lower.lastIndexOf(':');
    if (colon > 0 && /^\d+$/.test(lower.slice(colon + 1)) && !lower.slice(0, colon).includes(':')) return lower.slice(0, colon) === host && lower.slice(colon + 1) === port;
    return lower.replace(/^\[|\]$/g, '') === host;
  });
}

/** The response body of a 2xx answer; rejects with the reason for anything else. */
export async function httpRequest(target: string, body: Uint8Array, method: number, policy: HttpPolicy): Promise<Uint8Array> {
  let url: URL;
  try {
    url = new URL(target);
  } catch {
    throw new Error(`"${target.slice(0, 200)}" is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${url.protocol} URLs are not supported (http and https only)`);
  if (!hostAllowed(url, policy.allow)) {
    throw new Error(`${url.host} is not in the HTTP allow-list (${policy.allow.length ? policy.allow.join(', ') : 'empty'}); allow it with --http-allow ${url.host}`);
  }
  const verb = METHODS[method]!;
  const response = await fetch(url, {
    method: verb,
    body: verb === 'GET' || body.length === 0 ? undefined : body,
    redirect: 'manual',
    signal: AbortSignal.timeout(policy.timeoutMs),
  }).catch((error: Error) => {
    throw new Error(error.name === 'TimeoutError' ? `${verb} ${url.href} timed out after ${policy.timeoutMs} ms` : `${verb} ${url.href} failed: ${error.message}`);
  });
  if (response.status < 200 || response.status > 299) {
    await response.body?.cancel();
    throw new Error(`${verb} ${url.href} answered ${response.status}`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  if (response.body) {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      total += chunk.length;
      if (total > policy.maxResponseBytes) {
        throw new Error(`${verb} ${url.href}: the response is over ${policy.maxResponseBytes} bytes`);
      }
      chunks.push(chunk);
    }
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}
