// The `--queue URL` of compare and worker: redis://[USER[:PASSWORD]@]HOST[:PORT][/DB] or rediss://
// (TLS). The password is a secret: it goes into the connection options and nowhere else; every
// text that shows the URL shows it redacted.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { UsageError } from '../util/errors.js';

/** Connection options for ioredis (and so BullMQ), built from the URL. */
export interface RedisConnection {
  host: string;
  port: number;
  username?: string;
  password?: string;
  db: number;
  tls?: { servername?: string; ca?: Buffer };
  /** BullMQ's workers need commands to wait for a reconnection instead of failing (a Redis restart). */
  maxRetriesPerRequest: null;
  /** Reconnect with a growing delay, at most 2 s apart, forever: a restarted Redis is found again. */
  retryStrategy: (times: number) => number;
}

/** The environment variable that may hold the password, so it is not on the command line (visible to `ps`). */
export const PASSWORD_ENV = 'METAQUANT_REDIS_PASSWORD';
/** A CA certificate file for rediss:// servers whose certificate is not signed by a public CA. */
export const CA_ENV = 'METAQUANT_REDIS_CA';

export interface QueueAddress {
  connection: RedisConnection;
  /** The URL with any password replaced by ***, for messages. */
  display: string;
}

export function parseQueueUrl(text: string, env: NodeJS.ProcessEnv = process.env): QueueAddress {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`--queue: '${redactUrl(text)}' is not a URL; expected redis://[user:password@]host[:port][/db] or rediss://… (TLS)`);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`--queue: unsupported scheme '${url.protocol}'; expected redis:// or rediss:// (TLS)`);
  }
  if (url.hostname === '') throw new UsageError(`--queue: '${redactUrl(text)}' names no host`);
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0 || db > 15) throw new UsageError(`--queue: the path of the URL is the database number 0-15, got '/${dbText}'`);
  if (url.search !== '' || url.hash !== '') throw new UsageError(`--queue: the URL takes no query or fragment (got '${url.search}${url.hash}')`);
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const password = url.password !== '' ? decodeURIComponent(url.password) : env[PASSWORD_ENV] || undefined;
  const connection: RedisConnection = {
    host,
    port,
    db,
    ...(url.username !== '' ? { username: decodeURIComponent(url.username) } : {}),
    ...(password !== undefined ? { password } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (times) => Math.min(100 * times, 2000),
  };
  if (url.protocol === 'rediss:') {
    const caFile = env[CA_ENV];
    // SNI carries host names only (RFC 6066); for an IP address the certificate is checked against the IP.
    connection.tls = { ...(isIP(host) === 0 ? { servername: host } : {}), ...(caFile ? { ca: readCa(caFile) } : {}) };
  }
  return { connection, display: redactUrl(text) };
}

function readCa(file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new UsageError(`${CA_ENV}=${file}: cannot read the CA certificate (${(err as Error).message})`);
  }
}

/** The URL with the password shown as ***: everything from the user's ':' to the last '@' (a mistyped, unencoded '/' or '@' in a password stays hidden too). */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):.*@/i, '$1:***@');
}

/** Command-line arguments with a `--queue` URL's password redacted (for anything that records a command line). */
export function redactArgs(args: readonly string[]): string[] {
  return args.map((a) => (/^(--queue=)?rediss?:\/\//i.test(a) ? a.replace(/(rediss?:\/\/.*)$/i, (url) => redactUrl(url)) : a));
}
