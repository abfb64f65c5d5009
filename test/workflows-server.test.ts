// Workflows through the server: the /workflows endpoints on both backends, u_writeback_ws to the
// WebSocket producer whose point triggered the event, `sluice serve --wasm` and `sluice workflow`.
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { describe, expect, it } from 'vitest';
import { eachEvent, echoGuest, guest, until } from './helpers/guests.js';
import { makeTempDir } from './helpers/paths.js';
import { runCli, startServeProcess } from './helpers/process.js';
import { cleanups, startTestServer } from './helpers/server.js';

const echoTicks = () => echoGuest('LAST:ticks:[]');

for (const backend of ['uws', 'node'] as const) {
  describe(`workflow endpoints (${backend})`, () => {
    it('deploys over HTTP and writes back to the producer that sent the point', async () => {
      const server = await startTestServer(backend, { workflows: { pollWaitMs: 100 } });
      const deployed = await fetch(`${server.url}/workflows?name=echo&env=MODE=test`, { method: 'POST', body: await echoTicks() });
      expect(deployed.status).toBe(201);
      expect(await deployed.json()).toMatchObject({ name: 'echo', state: 'running', env: ['MODE'] });
      await until('the handle', async () => {
        const status = (await (await fetch(`${server.url}/workflows/echo`)).json()) as { handles: Array<{ handle: number }> };
        return status.handles[0]?.handle ? true : undefined;
      });

      const producer = new WebSocket(server.url.replace('http', 'ws'));
      cleanups.push(() => producer.close());
      const messages: string[] = [];
      producer.on('message', (data) => messages.push(String(data)));
      await new Promise((resolve, reject) => producer.once('open', resolve).once('error', reject));
      producer.send(JSON.stringify({ series: 'ticks', tags: { sym: 'ACME' }, timestamp: 1_700_000_000_000_000, value: 101.25 }));
      const echoed = await until('the writeback', () => messages.find((m) => m.includes('"timestamp"')));
      expect(JSON.parse(echoed)).toMatchObject({ timestamp: 1_700_000_000_000_000, value: 101.25, tags: ['sym=ACME'], series: 'ticks' });
      expect((JSON.parse(echoed) as { producers: number[] }).producers).toHaveLength(1);

      const list = (await (await fetch(`${server.url}/workflows`)).json()) as { workflows: Array<{ name: string }>; workers: Array<{ instances: number; schedulerSlice: string | null; wakes: number; guests: { madeAhead: number; madeAtStart: number } }> };
      expect(list.workflows.map((w) => w.name)).toEqual(['echo']);
      expect(list.workers).toHaveLength(1);
      expect(list.workers[0]).toMatchObject({ instances: 1, wakes: expect.any(Number), memories: { madeAtStart: 1 }, guests: { madeAtStart: 1 } });
      expect(list.workers[0]!.schedulerSlice).toMatch(/^(200 µs|the kernel's default \()/);
      const logs = (await (await fetch(`${server.url}/workflows/echo/logs?tail=5`)).json()) as { lines: string[] };
      expect(logs.lines.join('\n')).toMatch(/deployed module/);
      expect((await (await fetch(`${server.url}/workflows/echo/stop`, { method: 'POST' })).json()) as object).toMatchObject({ state: 'stopped' });
      expect((await fetch(`${server.url}/workflows/echo`, { method: 'DELETE' })).status).toBe(200);
      expect((await fetch(`${server.url}/workflows/echo`)).status).toBe(404);
    });

    it('answers bad deploys with 400 and the ABI problems', async () => {
      const server = await startTestServer(backend);
      const notWasm = await fetch(`${server.url}/workflows?name=x`, { method: 'POST', body: 'hello' });
      expect(notWasm.status).toBe(400);
      expect(await notWasm.json()).toMatchObject({ code: 'SLUICE_WASM', error: expect.stringMatching(/\\0asm header/) });
      const noName = await fetch(`${server.url}/workflows`, { method: 'POST', body: await echoTicks() });
      expect(noName.status).toBe(400);
      const unknown = await fetch(`${server.url}/workflows/nope/logs`);
      expect(unknown.status).toBe(404);
    });
  });
}

describe('sluice serve --wasm and sluice workflow', () => {
  it('deploys at start, persists across a restart, and is managed from the command line', async () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    const file = path.join(temp.dir, 'echo.wasm');
    fs.writeFileSync(file, await echoTicks());
    const dataDir = path.join(temp.dir, 'data');
    const first = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir, '--wasm', file]);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    const listed = runCli(['workflow', 'list', '--url', first.url]);
    expect(listed.stdout).toMatch(/^echo\trunning\trestarts=0/m);
    const other = path.join(temp.dir, 'second.wasm');
    fs.writeFileSync(other, await echoTicks());
    const deployed = runCli(['workflow', 'deploy', other, '--name', 'second', '--env', 'K=V', '--url', first.url]);
    expect(deployed.status, deployed.stderr).toBe(0);
    expect(JSON.parse(deployed.stdout)).toMatchObject({ name: 'second', env: ['K'] });
    expect(runCli(['workflow', 'stop', 'second', '--url', first.url]).status).toBe(0);
    const logs = runCli(['workflow', 'logs', 'second', '--url', first.url]);
    expect(logs.stdout).toMatch(/stopped/);
    const bad = runCli(['workflow', 'deploy', path.join(temp.dir, 'missing.wasm'), '--url', first.url]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/cannot read/);
    first.child.kill('SIGTERM');
    await first.exited;

    // Restarted without --wasm: both come back, `second` still stopped.
    const again = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir]);
    cleanups.push(() => void again.child.kill('SIGKILL'));
    const status = runCli(['workflow', 'list', '--url', again.url]);
    expect(status.stdout).toMatch(/^echo\trunning/m);
    expect(status.stdout).toMatch(/^second\tstopped/m);
    expect(runCli(['workflow', 'remove', 'second', '--url', again.url]).status).toBe(0);
    expect(runCli(['workflow', 'status', 'second', '--url', again.url]).stderr).toMatch(/no workflow named second/);
    again.child.kill('SIGTERM');
    await again.exited;
    const down = runCli(['workflow', 'list', '--url', again.url]);
    expect(down.status).toBe(1);
    expect(down.stderr).toMatch(/no server answers/);
  });
});

describe('crash', () => {
  it('keeps every state value a guest was told is stored across kill -9', async () => {
    const temp = makeTempDir();
    cleanups.push(temp.cleanup);
    // For each event: count += 1, u_state_set(count), then report it; at start, report what it restored.
    const counter = await guest(
      eachEvent({
        query: 'COUNT:hits:[]',
        strings: ['count', 'series=restored'],
        locals: '(local $n i64) (local $s i32)',
        before: `
          (local.set $s (call $state_get (call $str (i32.const 2))))
          (if (local.get $s) (then (local.set $n (i64.load (i32.load (local.get $s))))))
          (drop (call $write (call $itoa (call $now_us)) (call $itoa (local.get $n)) (call $str (i32.const 3))))`,
        onEvent: `
          (local.set $n (i64.add (local.get $n) (i64.const 1)))
          (i64.store (i32.const 3000) (local.get $n))
          (if (i32.eqz (call $state_set (call $str (i32.const 2)) (call $region (i32.const 3000) (i32.const 8))))
            (then (call $report (i32.wrap_i64 (local.get $n)) (local.get $n))))`,
      }),
    );
    const file = path.join(temp.dir, 'counter.wasm');
    fs.writeFileSync(file, counter);
    const dataDir = path.join(temp.dir, 'data');
    let restored = 0;
    let restoredAtBoot = 0;
    for (let round = 0; round < 3; round++) {
      const bootUs = Date.now() * 1000;
      const server = await startServeProcess(['serve', '--port', '0', '--data-dir', dataDir, '--durability', 'sync', ...(round === 0 ? ['--wasm', file] : [])]);
      cleanups.push(() => void server.child.kill('SIGKILL'));
      const query = async (q: string) => ((await (await fetch(`${server.url}/query?q=${encodeURIComponent(q)}`)).json()) as { result: number | null }).result;
      // What it restored is at least every count it reported (a report follows its state_set).
      const reportedBefore = restored;
      restored = await until('the guest to report its restored count', async () => {
        const value = (await query(`LAST:restored:[]:[${bootUs},now]`)) as number | null;
        return value === null ? undefined : value;
      });
      expect(restored).toBeGreaterThanOrEqual(reportedBefore);
      restoredAtBoot = restored;
      await until('its live query', async () => {
        const status = (await (await fetch(`${server.url}/workflows/counter`)).json()) as { handles: Array<{ handle: number }> };
        return status.handles[0]?.handle ? true : undefined;
      });
      // Hits arrive; kill -9 at some point while they are being counted.
      for (let i = 0; i < 20; i++) {
        await fetch(`${server.url}/write?precision=u`, { method: 'POST', body: `hits value=1 ${Date.now() * 1000 + i}` });
      }
      await new Promise((resolve) => setTimeout(resolve, 50 + round * 100));
      const reported = (await query('MAX:results:[]:[]')) as number | null;
      server.child.kill('SIGKILL');
      await server.exited;
      restored = Math.max(restored, reported ?? 0);
    }
    // The later boots restored counts from before a kill -9 (the test checks something).
    expect(restoredAtBoot).toBeGreaterThan(0);
  });
});
