// Serves the built demo folder on localhost with sirv (a maintained static-file middleware) behind
// node:http. sirv indexes the folder once at start and answers only for files found then, so no
// request path (`..`, encoded slashes, malformed escapes) can reach outside it; Node's HTTP parser
// answers oversized headers with 431. What sirv leaves to its host is handled here: methods other
// than GET/HEAD get 405, a malformed or backwards Range 416, and a request that makes it throw (e.g. a backwards Range) gets a 4xx
// instead of taking the server down.
import { createServer, type Server } from 'node:http';
import sirv from 'sirv';

/** One `bytes=a-b` range with a ≤ b (sirv would pass a backwards one to createReadStream, which throws). */
function validRange(range: string): boolean {
  const m = /^bytes=(\d*)-(\d*)$/.exec(range);
  return m !== null && (m[1] !== '' || m[2] !== '') && (m[1] === '' || m[2] === '' || Number(m[1]) <= Number(m[2]));
}

/** Serves the files under `root` on host:port (port 0 picks a free one); resolves once listening. */
export function serveStatic(root: string, port: number, host = '127.0.0.1'): Promise<Server> {
  const files = sirv(root, {
    dev: false, // index the folder now: only the files present at start are ever served
    etag: true,
    dotfiles: false,
    setHeaders: (res) => res.setHeader('Cache-Control', 'no-store'),
  });
  const server = createServer((req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (req.headers.range !== undefined && !validRange(req.headers.range)) {
      res.writeHead(416, { 'content-type': 'text/plain' }).end('bad range\n');
      return;
    }
    try {
      files(req, res, () => void res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'));
    } catch {
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n');
      else res.destroy();
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
