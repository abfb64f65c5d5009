import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from './helpers/paths.js';
import { runCli, startServeProcess, type RunningServer } from './helpers/process.js';

const packageVersion = (JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '..', 'package.json'), 'utf8')) as {
  version: string;
}).version;

const cleanups: (() => void)[] = [];
const servers: RunningServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.child.kill('SIGKILL');
    await server.exited;
  }
  for (const cleanup of cleanups.splice(0)) cleanup();
});

function tempDir(): string {
  const temp = makeTempDir();
  cleanups.push(temp.cleanup);
  return temp.dir;
}

describe('sluice command', () => {
  it('prints its version', () => {
    for (const flag of ['--version', '-v']) {
      const result = runCli([flag]);
      expect(result.status).toBe(0);
      expect(result.stdout.trim()).toBe(packageVersion);
    }
  });

  it('prints help for itself and for every verb, with exit code 0', () => {
    const top = runCli(['--help']);
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/Usage: sluice <command>/);
    expect(top.stdout).toMatch(/serve\s+run the server/);
    for (const args of [['serve', '--help'], ['serve', '-h'], ['help', 'serve']]) {
      const result = runCli(args);
      expect(result.status, args.join(' ')).toBe(0);
      expect(result.stdout).toMatch(/Usage: sluice serve/);
      expect(result.stdout).toMatch(/--data-dir/);
    }
  });

  it('exits 2 with a one-line reason on bad arguments', () => {
    const cases: [string[], RegExp][] = [
      [[], /Usage: sluice <command>/],
      [['frobnicate'], /^sluice: unknown command "frobnicate"; commands: serve, query/],
      [['--frob'], /^sluice: unknown option "--frob"/],
      [['help', 'nope'], /^sluice: unknown command "nope"/],
      [['serve', '--port', 'abc'], /^sluice serve: --port must be an integer in 0\.\.65535, got "abc"/],
      [['serve', '--port', '65536'], /^sluice serve: --port must be an integer in 0\.\.65535, got 65536/],
      [['serve', '--port'], /^sluice serve: Option '-p, --port <value>' argument missing/],
      [['serve', '--workflow-spin-us', '20000'], /^sluice serve: --workflow-spin-us must be an integer in 0\.\.10000, got 20000/],
      [['serve', '--workflow-nap-us', '5000'], /^sluice serve: --workflow-nap-us must be an integer in 0\.\.1000, got 5000/],
      [['serve', '--backend', 'nginx'], /^sluice serve: --backend must be one of auto, uws, node, got "nginx"/],
      [['serve', '--bogus'], /^sluice serve: Unknown option '--bogus'/],
      [['serve', 'extra'], /^sluice serve: Unexpected argument 'extra'/],
      [['serve', '--cors', 'localhost:5173'], /^sluice serve: --cors: must be an origin: http\(s\):\/\/host\[:port\] without a path/],
      [['serve', '--cors', '*', '--cors', 'http://a.example'], /^sluice serve: --cors: "\*" allows every origin; give it alone/],
      [['serve', '--cors', 'http://a.example', '--no-cors'], /^sluice serve: use either --cors or --no-cors, not both/],
    ];
    for (const [args, reason] of cases) {
      const result = runCli(args);
      expect(result.status, args.join(' ')).toBe(2);
      if (args.length > 0) {
        expect(result.stderr.trim().split('\n'), args.join(' ')).toHaveLength(1);
      }
      expect(result.stderr, args.join(' ')).toMatch(reason);
    }
  });

  it('rejects a bad SLUICE_PORT the same way', () => {
    const result = runCli(['serve'], { env: { SLUICE_PORT: '-3' } });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--port must be an integer/);
  });
});

describe('sluice query', () => {
  it('runs a query on a data directory or a running server, with the column of a bad query', async () => {
    const { sluice } = await import('./helpers/sluice.js');
    const dataDir = path.join(tempDir(), 'data');
    const db = await sluice.open({ dir: dataDir });
    db.write('temp', { sensor: '1' }, 1_000_000, 20);
    db.write('temp', { sensor: '2' }, 2_000_000, 24);
    await db.close();

    const plain = runCli(['query', '-d', dataDir, 'AVG:temp']);
    expect(plain.status, plain.stderr).toBe(0);
    expect(JSON.parse(plain.stdout)).toBe(22);
    const grouped = runCli(['query', '--data-dir', dataDir, 'MAX:temp:[]:[0,now]:[1s] BY sensor', '--now', '5000000']);
    expect(JSON.parse(grouped.stdout)).toEqual([
      { tags: { sensor: '1' }, buckets: [{ t: 1_000_000, value: 20 }] },
      { tags: { sensor: '2' }, buckets: [{ t: 2_000_000, value: 24 }] },
    ]);
    const bad = runCli(['query', '-d', dataDir, 'AVG:temp:[sensor=1']);
    expect(bad.status).toBe(1);
    expect(bad.stderr.split('\n').slice(0, 3)).toEqual([
      `sluice query: invalid query at column 19: expected AND, OR, ',' or ']' closing the tag filter, found the end of the query [SLUICE_QUERY]`,
      '  AVG:temp:[sensor=1',
      `  ${' '.repeat(18)}^`,
    ]);
    expect(runCli(['query']).status).toBe(2);
    expect(runCli(['query', 'a', 'b']).stderr).toMatch(/one query at a time/);

    const server = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]);
    servers.push(server);
    const locked = runCli(['query', '-d', dataDir, 'AVG:temp']);
    expect(locked.status).toBe(1);
    expect(locked.stderr).toMatch(/SLUICE_LOCKED[\s\S]*--url/);
    const remote = runCli(['query', '--url', server.url, 'COUNT:temp']);
    expect(remote.status, remote.stderr).toBe(0);
    expect(JSON.parse(remote.stdout)).toBe(2);
    const remoteBad = runCli(['query', '--url', server.url, 'NOPE:temp']);
    expect(remoteBad.status).toBe(1);
    expect(remoteBad.stderr).toMatch(/column 1: expected an op.*\[SLUICE_QUERY\]/);
  });
});

describe('sluice serve', () => {
  it('serves /health until SIGTERM, then exits 0 and frees its data directory', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const server = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]);
    servers.push(server);
    expect(server.stdout()).toMatch(new RegExp(`sluice ${packageVersion} listening on http://127\\.0\\.0\\.1:\\d+ \\(backend uws`));
    const health = await fetch(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', dataDir });
    expect(fs.existsSync(path.join(dataDir, 'LOCK'))).toBe(true);
    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    const next = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]); // the directory is free again
    servers.push(next);
    expect((await fetch(`${next.url}/health`)).status).toBe(200);
  });

  it('uses ./sluice-data in the working directory by default, and SLUICE_DATA_DIR when set', async () => {
    const cwd = tempDir();
    const byDefault = await startServeProcess(['serve', '--port', '0'], { cwd, env: { SLUICE_DATA_DIR: undefined } });
    servers.push(byDefault);
    expect(await (await fetch(`${byDefault.url}/health`)).json()).toMatchObject({ dataDir: path.join(cwd, 'sluice-data') });
    expect(fs.existsSync(path.join(cwd, 'sluice-data', 'LOCK'))).toBe(true);

    const fromEnv = path.join(cwd, 'elsewhere');
    const byEnv = await startServeProcess(['serve'], { cwd, env: { SLUICE_DATA_DIR: fromEnv, SLUICE_PORT: '0' } });
    servers.push(byEnv);
    expect(await (await fetch(`${byEnv.url}/health`)).json()).toMatchObject({ dataDir: fromEnv });
  });

  it('lets the pages of --cors origins use the server (repeatable), and no page with --no-cors', async () => {
    const server = await startServeProcess(['serve', '-p', '0', '-d', path.join(tempDir(), 'data'), '--cors', 'http://app.example:8080', '--cors', 'https://dash.example']);
    servers.push(server);
    const preflight = (url: string, origin: string) =>
      fetch(`${url}/query`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' } });
    for (const origin of ['http://app.example:8080', 'https://dash.example']) {
      const reply = await preflight(server.url, origin);
      expect([reply.status, reply.headers.get('access-control-allow-origin')]).toEqual([204, origin]);
      expect(reply.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    }
    expect((await preflight(server.url, 'http://localhost:5173')).status).toBe(403);
    const closed = await startServeProcess(['serve', '-p', '0', '-d', path.join(tempDir(), 'data'), '--no-cors']);
    servers.push(closed);
    expect((await preflight(closed.url, 'http://localhost:5173')).status).toBe(403);
  });

  it('serves on the node:http backend when asked', async () => {
    const server = await startServeProcess(['serve', '-p', '0', '-d', path.join(tempDir(), 'data'), '--backend', 'node']);
    servers.push(server);
    expect(server.stdout()).toMatch(/\(backend node/);
    expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ backend: 'node' });
  });

  it('exits 1 with a one-line reason when the data directory is in use by another process', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const first = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]);
    servers.push(first);
    const second = runCli(['serve', '--port', '0', '--data-dir', dataDir]);
    expect(second.status).toBe(1);
    expect(second.stderr.trim()).toBe(
      `sluice serve: data directory ${dataDir} is in use by process ${first.child.pid} ` +
        `(lock file ${path.join(dataDir, 'LOCK')}); stop it or use another data directory [SLUICE_LOCKED]`,
    );
  });

  it('exits 1 with a one-line reason when the port is taken', async () => {
    const first = await startServeProcess(['serve', '--port', '0', '--data-dir', path.join(tempDir(), 'a')]);
    servers.push(first);
    const port = new URL(first.url).port;
    for (const backend of ['uws', 'node']) {
      const second = runCli(['serve', '--port', port, '--data-dir', path.join(tempDir(), 'b'), '--backend', backend]);
      expect(second.status, backend).toBe(1);
      expect(second.stderr.trim(), backend).toMatch(new RegExp(`^sluice serve: cannot listen on 127\\.0\\.0\\.1:${port}.*\\[SLUICE_LISTEN\\]$`));
    }
  });

  it('after kill -9, a restart takes over the stale lock', async () => {
    const dataDir = path.join(tempDir(), 'data');
    const first = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]);
    first.child.kill('SIGKILL');
    await first.exited;
    expect(fs.existsSync(path.join(dataDir, 'LOCK'))).toBe(true);
    const second = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]);
    servers.push(second);
    expect((await fetch(`${second.url}/health`)).status).toBe(200);
  });
});
