// What a first visit costs the browser: bytes on the wire for the WASM, JS and CSS (as the
// server compresses them), and the time from navigation to the page being hydrated (the app
// marks `.app[data-hydrated]`). Each round is a fresh browser context: nothing cached.
import { test, type Page } from '@playwright/test';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);

type Visit = {
  bytes: Record<string, number>;
  headers: Record<string, number>;
  raw: Record<string, number>;
  requests: Record<string, number>;
  hydratedMs: number;
  fetchedMs: number;
  encodings: Set<string>;
};

async function visit(page: Page, path: string): Promise<Visit> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  const kinds = new Map<string, string>();
  const bytes: Record<string, number> = {};
  // The part of `bytes` that is response headers (HTTP/1.1 sends them uncompressed; HTTP/2
  // compresses them to a few bytes each).
  const headers: Record<string, number> = {};
  const raw: Record<string, number> = {};
  const requests: Record<string, number> = {};
  const encodings = new Set<string>();
  cdp.on('Network.responseReceived', (e) => {
    const url = new URL(e.response.url);
    const kind = url.pathname.endsWith('.wasm')
      ? 'wasm'
      : url.pathname.endsWith('.js')
        ? 'js'
        : url.pathname.endsWith('.css')
          ? 'css'
          : e.type === 'Document'
            ? 'html'
            : 'other';
    kinds.set(e.requestId, kind);
    headers[kind] = (headers[kind] ?? 0) + e.response.encodedDataLength;
    const enc = e.response.headers['content-encoding'] ?? e.response.headers['Content-Encoding'];
    if (kind !== 'other') encodings.add(`${kind}:${enc ?? 'identity'}`);
  });
  cdp.on('Network.loadingFinished', (e) => {
    const kind = kinds.get(e.requestId) ?? 'other';
    bytes[kind] = (bytes[kind] ?? 0) + e.encodedDataLength;
    requests[kind] = (requests[kind] ?? 0) + 1;
  });
  cdp.on('Network.dataReceived', (e) => {
    const kind = kinds.get(e.requestId) ?? 'other';
    raw[kind] = (raw[kind] ?? 0) + e.dataLength;
  });
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('.app[data-hydrated="true"]')) {
        (window as unknown as { __hydratedAt: number }).__hydratedAt = performance.now();
        observer.disconnect();
      }
    }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-hydrated'] });
  });
  await page.goto(path);
  await page.waitForFunction(() => (window as unknown as { __hydratedAt?: number }).__hydratedAt !== undefined);
  await page.waitForLoadState('networkidle');
  const hydratedMs = await page.evaluate(() => (window as unknown as { __hydratedAt: number }).__hydratedAt);
  // When the last WebAssembly module had arrived: the rest of the time is compiling and running.
  const fetchedMs = await page.evaluate(() =>
    Math.max(
      0,
      ...performance
        .getEntriesByType('resource')
        .filter((e) => e.name.endsWith('.wasm'))
        .map((e) => (e as PerformanceResourceTiming).responseEnd),
    ),
  );
  await cdp.detach();
  return { bytes, headers, raw, requests, hydratedMs, fetchedMs, encodings };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor((s.length - 1) / 2)];
}

// The sign-in page, the page most visits start on, and the heaviest pages (their route chunks
// are the largest): the main bundle plus the route's chunks is what a first visit costs.
for (const path of ['/signin', '/namespaces', '/rollouts', '/cost', '/access', '/onboarding']) {
  test(`first visit of ${path}`, async ({ browser, baseURL }) => {
    const visits: Visit[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const context = await browser.newContext();
      const page = await context.newPage();
      if (path !== '/signin') {
        // The session only: no page (and no bundle) loaded before the measured visit.
        await context.request.post('/auth/demo', {
          form: { persona: 'demo:dana' },
          headers: { origin: baseURL ?? '' },
        });
      }
      // A cold cache for the measured visit, with the session kept.
      visits.push(await visit(page, path));
      await context.close();
    }
    const kb = (n: number) => (n / 1024).toFixed(1);
    const first = visits[0];
    const assets = (v: Visit) => (v.bytes.wasm ?? 0) + (v.bytes.js ?? 0) + (v.bytes.css ?? 0);
    const assetHeaders = (v: Visit) =>
      (v.headers.wasm ?? 0) + (v.headers.js ?? 0) + (v.headers.css ?? 0);
    const rawAssets = (v: Visit) => (v.raw.wasm ?? 0) + (v.raw.js ?? 0) + (v.raw.css ?? 0);
    const allRequests = Object.values(first.requests).reduce((a, b) => a + b, 0);
    console.log(
      `${path}: ${allRequests} requests in all (html ${first.requests.html ?? 0}, wasm ${first.requests.wasm ?? 0}, ` +
        `js ${first.requests.js ?? 0}, css ${first.requests.css ?? 0}, other ${first.requests.other ?? 0}); ` +
        `WASM + JS + CSS transferred ${kb(assets(first))} KB ` +
        `(bodies ${kb(assets(first) - assetHeaders(first))} + response headers ${kb(assetHeaders(first))}; ` +
        `wasm ${kb(first.bytes.wasm ?? 0)}, js ${kb(first.bytes.js ?? 0)}, css ${kb(first.bytes.css ?? 0)}; ` +
        `${kb(rawAssets(first))} KB uncompressed) in ${first.requests.wasm ?? 0} WASM and ` +
        `${first.requests.js ?? 0} JS requests, html ${kb(first.bytes.html ?? 0)} KB; ` +
        `encodings ${[...first.encodings].sort().join(', ')}`,
    );
    const times = visits.map((v) => v.hydratedMs);
    console.log(
      `${path}: navigation → hydrated over ${ROUNDS} cold visits: median ${median(times).toFixed(0)} ms, ` +
        `min ${Math.min(...times).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms; ` +
        `the last WASM module in by ${median(visits.map((v) => v.fetchedMs)).toFixed(0)} ms (median)`,
    );
  });
}
