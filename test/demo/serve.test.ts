// The demo's static server under hostile requests, sent byte for byte over a raw socket (fetch
// would normalise them): each gets a 4xx, nothing outside the folder is read, the server keeps
// serving. Before sirv, `GET /%E0%A4%A` threw in decodeURIComponent and killed the process.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serveStatic } from '../../src/demo/serve.js';

let server: Server;
let port: number;

before(async () => {
  const top = mkdtempSync(join(tmpdir(), 'mq-serve-'));
  writeFileSync(join(top, 'secret.txt'), 'SECRET');
  const site = join(top, 'site');
  mkdirSync(join(site, 'assets'), { recursive: true });
  writeFileSync(join(site, 'index.html'), '<!doctype html><title>demo</title>');
  writeFileSync(join(site, 'assets', 'a.js'), 'console.log(1)');
  writeFileSync(join(site, '.env'), 'HIDDEN');
  server = await serveStatic(site, 0);
  port = (server.address() as AddressInfo).port;
});

after(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends `raw` as is; resolves with the status code and the whole response text. */
function send(raw: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text }));
    socket.write(raw); // not end(): a half-closed client gets no answer from node:http
    socket.setTimeout(5000, () => socket.destroy());
  });
}

const get = (path: string, headers = '') => send(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`);

test('ordinary requests are served', async () => {
  const index = await get('/');
  assert.equal(index.status, 200);
  assert.match(index.text, /<title>demo<\/title>/);
  assert.equal((await get('/assets/a.js')).status, 200);
  assert.equal((await send('HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 200);
});

const HOSTILE: Array<[string, () => Promise<{ status: number; text: string }>]> = [
  ['malformed escape', () => get('/%E0%A4%A')],
  ['lone percent', () => get('/%')],
  ['.. traversal', () => get('/../secret.txt')],
  ['encoded .. traversal', () => get('/%2e%2e/secret.txt')],
  ['encoded slashes', () => get('/assets%2F..%2F..%2Fsecret.txt')],
  ['backslashes', () => get('/..\\..\\secret.txt')],
  ['absolute path', () => get('//etc/passwd')],
  ['dotfile', () => get('/.env')],
  ['NUL byte', () => get('/index.html%00.js')],
  ['huge header', () => get('/', `X-Big: ${'a'.repeat(100_000)}\r\n`)],
  ['backwards range', () => get('/index.html', 'Range: bytes=20-3\r\n')],
  ['POST', () => send('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi')],
  ['PUT', () => send('PUT /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')],
  ['DELETE', () => send('DELETE /index.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')],
  ['garbage request line', () => send('\x00\x01 nonsense\r\n\r\n')],
];

for (const [name, request] of HOSTILE) {
  test(`hostile request (${name}) gets a 4xx and the server keeps serving`, async () => {
    const r = await request();
    assert.ok(r.status >= 400 && r.status < 500, `${name}: status ${r.status}\n${r.text.slice(0, 200)}`);
    assert.doesNotMatch(r.text, /SECRET|HIDDEN|root:/);
    assert.equal((await get('/')).status, 200, `still serving after ${name}`);
  });
}
