'use strict';
// The server side by side with VictoriaMetrics on loopback (docs/benchmarks.md, Network ingest),
// all in one run. This process is the load generator; every server runs in its own process on its
// own temporary data directory:
//   1. points/s: the data set (bench/dataset.js) as WebSocket batch frames and as HTTP line
//      protocol, first to a sink that drops everything (the load generator alone), then to
//      `sluice serve` (both protocols) and VictoriaMetrics (line protocol), alternating, in rounds;
//   2. bytes per point on disk after flush and compaction (sluice: the server stopped, the
//      directory opened here for flush() + compact(); VictoriaMetrics: /internal/force_flush and
//      /internal/force_merge);
//   3. peak RSS of each server process (VmHWM);
//   4. AVG over one series of 1 M points (series 1000 of the same generator, sent after the data
//      set) through HTTP: sluice `GET /query` and VictoriaMetrics `/api/v1/query` with
//      avg_over_time, alternating on keep-alive connections, warm;
//   5. WebSocket ack latency (`?ack=1`) with producers paced to half the peak WebSocket rate.
// VictoriaMetrics is the Debian package `victoria-metrics`; without it its rows say so.
//   node bench/network-ingest.bench.js [--series 1000] [--points 2000] [--connections 2]
//        [--rounds 3] [--big-points 1000000] [--queries 50]
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { encodeEvents, open } = require('../dist/lib/index.js');
const { generateSeries, seriesIdentity, START_MICROS, INTERVAL_MICROS } = require('./dataset.js');
const { printHeader } = require('./machine.js');
const { argument, median, printRows, run } = require('./util.js');

const seriesCount = argument('series', 1000);
const pointsPerSeries = argument('points', 2000);
const connections = argument('connections', 2);
const rounds = argument('rounds', 3);
const bigPoints = argument('big-points', 1_000_000);
const queryCount = argument('queries', 50);
const EVENTS_PER_MESSAGE = 5000;
const LINES_PER_BODY = 5000;
const BIG_SERIES = seriesCount; // the series after the data set's own: host_<seriesCount>
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-net-'));
const cli = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'bin.js');
const children = new Set();

/**
 * Series `indices` × `points`, interleaved by time across series (as live producers send it), in
 * messages of EVENTS_PER_MESSAGE events and bodies of LINES_PER_BODY lines. Each series' event is
 * encoded once by encodeEvents and copied per point with its timestamp and value (bytes 0 and 8).
 */
function buildPayloads(indices, points) {
  const all = indices.map((i) => {
    const series = generateSeries(i, { points });
    const template = Buffer.from(encodeEvents([{ series: series.name, tags: series.tags, timestamp: 0n, value: 0 }]));
    return { ...series, template, prefix: `${series.name},host=${series.tags.host},region=${series.tags.region} value=` };
  });
  const frames = [];
  const bodies = [];
  let events = [];
  let lines = [];
  const flushFrame = () => {
    const frame = Buffer.allocUnsafe(events.reduce((size, [s]) => size + s.template.length, 0));
    let offset = 0;
    for (const [s, p] of events) {
      s.template.copy(frame, offset);
      frame.writeBigInt64LE(s.timestamps[p], offset);
      frame.writeDoubleLE(s.values[p], offset + 8);
      offset += s.template.length;
    }
    frames.push(frame);
    events = [];
  };
  const flushBody = () => {
    bodies.push(Buffer.from(lines.join('\n') + '\n'));
    lines = [];
  };
  for (let p = 0; p < points; p++) {
    for (const s of all) {
      events.push([s, p]);
      lines.push(`${s.prefix}${s.values[p]} ${s.timestamps[p]}`);
      if (events.length === EVENTS_PER_MESSAGE) flushFrame();
      if (lines.length === LINES_PER_BODY) flushBody();
    }
  }
  if (events.length) flushFrame();
  if (lines.length) flushBody();
  return { frames, bodies, total: indices.length * points };
}

/** Starts a child process; resolves once its output matches `readyPattern`. `output()` is all it printed. */
function startProcess(command, args, readyPattern) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    const onData = (chunk) => {
      output += chunk;
      if (output.length > 1 << 20) output = output.slice(-(1 << 19));
      const match = readyPattern.exec(output);
      if (match) resolve({ child, match, output: () => output });
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('exit', (code) => {
      children.delete(child);
      reject(new Error(`${command} exited with ${code}: ${output.slice(-2000)}`));
    });
  });
}

/** SIGTERM to one child we started; resolves when it has exited (a graceful stop). */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

/** Peak resident memory of a process, from /proc (VmHWM). */
function peakRssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
}

/** Bytes of the files under `dir`, recursively (apparent sizes). */
function directoryBytes(dir) {
  let bytes = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const at = path.join(dir, entry.name);
    if (entry.isDirectory()) bytes += directoryBytes(at);
    else if (entry.isFile()) bytes += fs.statSync(at).size;
  }
  return bytes;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

// A sink that takes WebSocket messages and HTTP bodies and drops them, counting what arrived.
const SINK = `
const { loadUws } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'lib', 'server', 'uws-backend.js'))});
const uws = loadUws();
let messages = 0, bodies = 0;
uws.App()
  .ws('/*', { maxPayloadLength: 64 << 20, message: () => { messages++; } })
  .get('/count', (res) => res.end(JSON.stringify({ messages, bodies })))
  .post('/*', (res) => { res.onAborted(() => {}); res.onData((chunk, last) => { if (last) { bodies++; res.writeStatus('204 No Content').end(); } }); })
  .listen('127.0.0.1', 0, (socket) => console.log('sink on ' + uws.us_socket_local_port(socket)));
`;

/** GET (or POST without a body) `url`; resolves with { status, body }. */
function request(url, { agent, method = 'GET' } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function getText(url) {
  const { status, body } = await request(url);
  if (status >= 300) throw new Error(`HTTP ${status} from ${url}: ${body.slice(0, 500)}`);
  return body;
}

async function waitFor(check, intervalMs = 2) {
  for (;;) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

function openSockets(url) {
  return Promise.all(
    Array.from({ length: connections }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 1 << 20 });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
}

/** Sends the frames over `connections` WebSockets; resolves with the seconds until `done()` says all arrived. */
async function sendWebSocket(url, frames, done) {
  const sockets = await openSockets(url);
  const started = process.hrtime.bigint();
  await Promise.all(sockets.map(async (ws, c) => {
    for (let i = c; i < frames.length; i += connections) {
      ws.send(frames[i]);
      if (ws.bufferedAmount > 8 << 20) await waitFor(() => ws.bufferedAmount < 1 << 20);
    }
  }));
  await waitFor(done);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  for (const ws of sockets) ws.terminate();
  return seconds;
}

/** POSTs the bodies over `connections` keep-alive connections; resolves with the seconds until `done()` says so. */
async function sendHttp(url, bodies, done) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const post = (body) => new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-length': body.length } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode} from ${url}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
  const started = process.hrtime.bigint();
  await Promise.all(Array.from({ length: connections }, async (_, c) => {
    for (let i = c; i < bodies.length; i += connections) await post(bodies[i]);
  }));
  await waitFor(done);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  agent.destroy();
  return seconds;
}

/**
 * Sends the frames over `connections` WebSockets with `?ack=1`, paced to `pointsPerSecond` in
 * total (message k is due at start + k × its share of a second, on connection k mod connections);
 * returns the milliseconds from each send to the `{"ack": n}` that covers it, and how late sends were.
 */
async function ackLatencies(url, frames, pointsPerSecond) {
  const sockets = await openSockets(`${url}/?ack=1`);
  const sentAt = sockets.map(() => []);
  const latencies = [];
  let acked = 0;
  sockets.forEach((ws, c) => {
    let covered = 0;
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const now = process.hrtime.bigint();
      const { ack } = JSON.parse(data.toString());
      if (ack === undefined) return;
      for (; covered < ack; covered++) latencies.push(Number(now - sentAt[c][covered]) / 1e6);
      acked = latencies.length;
    });
  });
  const secondsPerMessage = EVENTS_PER_MESSAGE / pointsPerSecond;
  const start = process.hrtime.bigint();
  let maxLateMs = 0;
  for (let k = 0; k < frames.length;) {
    const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    const due = k * secondsPerMessage;
    if (elapsed < due) {
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, (due - elapsed) * 1000 - 0.5)));
      continue;
    }
    maxLateMs = Math.max(maxLateMs, (elapsed - due) * 1000);
    const c = k % connections;
    sentAt[c].push(process.hrtime.bigint());
    sockets[c].send(frames[k]);
    k++;
  }
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await waitFor(() => acked === frames.length, 5);
  for (const ws of sockets) ws.terminate();
  return { latencies, seconds, maxLateMs };
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function metric(url, name) {
  const text = await getText(`${url}/metrics`);
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

// ---- the servers -------------------------------------------------------------------------------

async function startSluice(dir, extra = []) {
  const server = await startProcess(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dir, ...extra], /listening on (http:\/\/\S+)/);
  return { child: server.child, url: server.match[1] };
}

/** Opens a stopped server's directory here, writes the memtable to a segment and merges every segment into one. */
async function flushAndCompact(dir) {
  const db = await open({ dir });
  await db.flush();
  await db.compact();
  await db.close();
}

function victoriaMetricsBinary() {
  try {
    return execFileSync('sh', ['-c', 'command -v victoria-metrics'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function victoriaMetricsVersion() {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', 'victoria-metrics'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'version unknown';
  }
}

async function startVictoriaMetrics(binary, dir) {
  const port = await freePort();
  // The data set is from November 2023: keep a retention that covers it.
  const vm = await startProcess(binary, ['-storageDataPath', dir, '-httpListenAddr', `127.0.0.1:${port}`, '-retentionPeriod', '100y'], /started VictoriaMetrics/);
  const url = `http://127.0.0.1:${port}`;
  await waitFor(() => request(`${url}/health`).then((r) => r.status === 200, () => false), 20);
  return { child: vm.child, url, dir, output: vm.output };
}

/** The partitions (months) VictoriaMetrics' data directory holds. */
function victoriaMetricsPartitions(dir) {
  const names = new Set();
  for (const size of ['small', 'big']) {
    const sizeDir = path.join(dir, 'data', size);
    if (!fs.existsSync(sizeDir)) continue;
    for (const partition of fs.readdirSync(sizeDir, { withFileTypes: true })) {
      if (partition.isDirectory() && partition.name !== 'snapshots') names.add(partition.name);
    }
  }
  return names.size;
}

/** The parts VictoriaMetrics' data directory holds now: data/{small,big}/<partition>/<part>. */
function victoriaMetricsParts(dir) {
  let parts = 0;
  for (const size of ['small', 'big']) {
    const sizeDir = path.join(dir, 'data', size);
    if (!fs.existsSync(sizeDir)) continue;
    for (const partition of fs.readdirSync(sizeDir, { withFileTypes: true })) {
      if (!partition.isDirectory() || partition.name === 'snapshots') continue;
      for (const part of fs.readdirSync(path.join(sizeDir, partition.name), { withFileTypes: true })) {
        if (part.isDirectory() && !['tmp', 'txn'].includes(part.name)) parts++;
      }
    }
  }
  return parts;
}

/**
 * Flushes VictoriaMetrics' in-memory parts and forces a merge of every partition, until each
 * partition is one part (a forced merge skips parts a background merge holds at that moment).
 */
async function victoriaMetricsCompact(vm) {
  await getText(`${vm.url}/internal/force_flush`);
  const finished = () => (vm.output().match(/forced merge for partition_prefix="" has been successfully finished/g) ?? []).length;
  for (let attempt = 0; attempt < 5; attempt++) {
    const before = finished();
    await getText(`${vm.url}/internal/force_merge`);
    await waitFor(() => finished() > before, 50);
    // Then until its directory stops changing (parts it replaced are removed after the merge).
    let last = -1;
    let steady = 0;
    await waitFor(() => {
      const bytes = directoryBytes(vm.dir);
      steady = bytes === last ? steady + 1 : 0;
      last = bytes;
      return steady >= 4;
    }, 500);
    if (victoriaMetricsParts(vm.dir) <= victoriaMetricsPartitions(vm.dir)) return;
  }
}

// ---- the run -----------------------------------------------------------------------------------

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const millions = (rate) => `${(rate / 1e6).toFixed(2)} M`;

function minMedian(values, format) {
  return `${format(Math.min(...values))} / ${format(median(values))}`;
}

async function main() {
  printHeader('network ingest, sluice beside VictoriaMetrics');
  const vmBinary = victoriaMetricsBinary();
  const vmVersion = vmBinary ? victoriaMetricsVersion() : undefined;
  console.log(`data set: ${seriesCount} series × ${pointsPerSeries} points; ${connections} connections; ${EVENTS_PER_MESSAGE} points per message / body; ${rounds} rounds`);
  console.log(`VictoriaMetrics: ${vmBinary ? `${vmBinary} ${vmVersion}` : 'not installed (Debian package victoria-metrics)'}`);
  const building = process.hrtime.bigint();
  const data = buildPayloads(Array.from({ length: seriesCount }, (_, i) => i), pointsPerSeries);
  const big = buildPayloads([BIG_SERIES], bigPoints);
  console.log(`payloads built in ${(Number(process.hrtime.bigint() - building) / 1e9).toFixed(1)} s: ${data.frames.length} frames (${mib(data.frames.reduce((s, f) => s + f.length, 0))}), ${data.bodies.length} bodies (${mib(data.bodies.reduce((s, b) => s + b.length, 0))})\n`);
  const { total } = data;
  const rates = { sinkWs: [], sinkHttp: [], sluiceWs: [], sluiceHttp: [], vm: [] };
  const rss = { sluiceWs: [], sluiceHttp: [], vm: [] };
  let keptSluice; // the last round's WebSocket server and directory, for the later steps
  let keptVm;
  try {
    // 1. points/s, every target in each round, in the same order.
    for (let round = 1; round <= rounds; round++) {
      const last = round === rounds;
      const sink = await startProcess(process.execPath, ['-e', SINK], /sink on (\d+)/);
      const sinkUrl = `http://127.0.0.1:${sink.match[1]}`;
      const count = async () => JSON.parse(await getText(`${sinkUrl}/count`));
      const sinkWs = await sendWebSocket(sinkUrl.replace('http', 'ws'), data.frames, async () => (await count()).messages === data.frames.length);
      const sinkHttp = await sendHttp(`${sinkUrl}/write`, data.bodies, async () => (await count()).bodies === data.bodies.length);
      await stop(sink.child);
      rates.sinkWs.push(total / sinkWs);
      rates.sinkHttp.push(total / sinkHttp);

      for (const protocol of ['websocket', 'http']) {
        const dir = path.join(root, `sluice-${protocol}-${round}`);
        const server = await startSluice(dir);
        const done = async () => (await metric(server.url, 'sluice_points_written_total')) >= total;
        const seconds = protocol === 'websocket'
          ? await sendWebSocket(server.url.replace('http', 'ws'), data.frames, done)
          : await sendHttp(`${server.url}/write?precision=us`, data.bodies, done);
        (protocol === 'websocket' ? rates.sluiceWs : rates.sluiceHttp).push(total / seconds);
        (protocol === 'websocket' ? rss.sluiceWs : rss.sluiceHttp).push(peakRssMiB(server.child.pid));
        await stop(server.child);
        if (last && protocol === 'websocket') keptSluice = { dir };
        else fs.rmSync(dir, { recursive: true, force: true });
      }

      if (vmBinary) {
        const dir = path.join(root, `vm-${round}`);
        const vm = await startVictoriaMetrics(vmBinary, dir);
        // Rows VictoriaMetrics has put in its storage (its ingest is asynchronous to the 204).
        const seconds = await sendHttp(`${vm.url}/write?precision=us`, data.bodies, async () => (await metric(vm.url, 'vm_rows_added_to_storage_total')) >= total);
        rates.vm.push(total / seconds);
        rss.vm.push(peakRssMiB(vm.child.pid));
        if (last) keptVm = vm;
        else {
          await stop(vm.child);
          fs.rmSync(dir, { recursive: true, force: true });
        }
      }
      console.log(`round ${round}: sink ws ${millions(total / sinkWs)}, sink http ${millions(total / sinkHttp)}, sluice ws ${millions(rates.sluiceWs.at(-1))}, sluice http ${millions(rates.sluiceHttp.at(-1))}${vmBinary ? `, VictoriaMetrics ${millions(rates.vm.at(-1))}` : ''} points/s`);
    }

    // 2. Bytes per point after flush and compaction (the data set alone).
    await flushAndCompact(keptSluice.dir);
    const sluiceBytes = directoryBytes(keptSluice.dir);
    const sluiceSegmentBytes = directoryBytes(path.join(keptSluice.dir, 'segments'));
    let vmBytes;
    let vmDataBytes;
    let vmParts;
    if (keptVm) {
      await victoriaMetricsCompact(keptVm);
      vmBytes = directoryBytes(keptVm.dir);
      vmDataBytes = directoryBytes(path.join(keptVm.dir, 'data'));
      vmParts = victoriaMetricsParts(keptVm.dir);
    }

    // 3. The 1 M-point series into both, compacted again; then AVG over it, alternating.
    let server = await startSluice(keptSluice.dir);
    const bigTotal = total + big.total;
    const writtenBefore = await metric(server.url, 'sluice_points_written_total');
    await sendWebSocket(server.url.replace('http', 'ws'), big.frames, async () => (await metric(server.url, 'sluice_points_written_total')) >= writtenBefore + big.total);
    await stop(server.child);
    await flushAndCompact(keptSluice.dir);
    server = await startSluice(keptSluice.dir);
    if (keptVm) {
      await sendHttp(`${keptVm.url}/write?precision=us`, big.bodies, async () => (await metric(keptVm.url, 'vm_rows_added_to_storage_total')) >= bigTotal);
      await victoriaMetricsCompact(keptVm);
    }
    const { tags } = seriesIdentity(BIG_SERIES);
    const firstUs = START_MICROS;
    const lastUs = START_MICROS + BigInt(bigPoints - 1) * INTERVAL_MICROS;
    const sluiceQuery = (op) => `${server.url}/query?q=${encodeURIComponent(`${op}:cpu:[host=${tags.host}]:[${firstUs},${lastUs}]`)}`;
    const lastSeconds = Number(lastUs / 1_000_000n);
    const windowSeconds = Number((lastUs - firstUs) / 1_000_000n) + 1;
    const vmQuery = (fn) => `${keptVm.url}/api/v1/query?nocache=1&time=${lastSeconds}&query=${encodeURIComponent(`${fn}(cpu_value{host="${tags.host}"}[${windowSeconds}s])`)}`;
    const sluiceValue = async (url, agent) => JSON.parse((await request(url, { agent })).body).result;
    const vmValue = async (url, agent) => {
      const { body } = await request(url, { agent });
      const result = JSON.parse(body).data?.result;
      if (!result?.length) throw new Error(`VictoriaMetrics answered ${body.slice(0, 300)}`);
      return Number(result[0].value[1]);
    };
    const check = {
      sluiceCount: await sluiceValue(sluiceQuery('COUNT')),
      sluiceAvg: await sluiceValue(sluiceQuery('AVG')),
      vmCount: keptVm ? await vmValue(vmQuery('count_over_time')) : undefined,
      vmAvg: keptVm ? await vmValue(vmQuery('avg_over_time')) : undefined,
    };
    console.log(`1 M-point series: sluice COUNT ${check.sluiceCount}, AVG ${check.sluiceAvg}; VictoriaMetrics count ${check.vmCount}, avg ${check.vmAvg}`);
    const sluiceAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const vmAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const times = { sluice: [], vm: [] };
    const timed = async (fn) => {
      const started = process.hrtime.bigint();
      await fn();
      return Number(process.hrtime.bigint() - started) / 1e6;
    };
    for (let i = -5; i < queryCount; i++) { // 5 warm-up requests each
      const s = await timed(() => sluiceValue(sluiceQuery('AVG'), sluiceAgent));
      const v = keptVm ? await timed(() => vmValue(vmQuery('avg_over_time'), vmAgent)) : undefined;
      if (i >= 0) {
        times.sluice.push(s);
        if (v !== undefined) times.vm.push(v);
      }
    }
    sluiceAgent.destroy();
    vmAgent.destroy();
    const sluiceQueryRss = peakRssMiB(server.child.pid);
    await stop(server.child);
    let vmFinalRss;
    if (keptVm) {
      vmFinalRss = peakRssMiB(keptVm.child.pid);
      await stop(keptVm.child);
    }

    // 4. Ack latency at half the peak WebSocket rate, a fresh server per durability mode.
    const peakWs = median(rates.sluiceWs);
    const acks = {};
    for (const durability of ['batch', 'none']) {
      const dir = path.join(root, `sluice-ack-${durability}`);
      const ackServer = await startSluice(dir, ['--durability', durability]);
      acks[durability] = await ackLatencies(ackServer.url.replace('http', 'ws'), data.frames, peakWs / 2);
      acks[durability].rss = peakRssMiB(ackServer.child.pid);
      await stop(ackServer.child);
      fs.rmSync(dir, { recursive: true, force: true });
    }

    // The table.
    const fmtRate = (values) => `${minMedian(values, millions)} points/s`;
    const maxMedian = (values) => `${Math.max(...values).toFixed(0)} / ${median(values).toFixed(0)} MiB`;
    const rows = [
      ['load generator alone, WebSocket batch frames → a sink that drops', fmtRate(rates.sinkWs), `${data.frames.length} messages`],
      ['load generator alone, HTTP line protocol → a sink that drops', fmtRate(rates.sinkHttp), `${data.bodies.length} bodies`],
      ['sluice serve, WebSocket batch frames (Slung events)', `**${fmtRate(rates.sluiceWs)}**`, `peak RSS ${maxMedian(rss.sluiceWs)} (max / median); durability batch`],
      ['sluice serve, HTTP line protocol (`/write`)', `**${fmtRate(rates.sluiceHttp)}**`, `peak RSS ${maxMedian(rss.sluiceHttp)}`],
    ];
    if (vmBinary) {
      rows.push([`VictoriaMetrics ${vmVersion}, HTTP line protocol (\`/write\`)`, fmtRate(rates.vm), `peak RSS ${maxMedian(rss.vm)}; done when vm_rows_added_to_storage_total reaches the total`]);
      rows.push(['points/s ratio sluice ÷ VictoriaMetrics (medians)', `WS ${(median(rates.sluiceWs) / median(rates.vm)).toFixed(2)}×, HTTP ${(median(rates.sluiceHttp) / median(rates.vm)).toFixed(2)}×`, 'target ≥ 1.0']);
    }
    rows.push(['sluice, bytes per point on disk after flush + compact', `**${(sluiceBytes / total).toFixed(3)}**`, `whole data directory ${mib(sluiceBytes)}; segments ${(sluiceSegmentBytes / total).toFixed(3)} B/pt`]);
    if (keptVm) rows.push(['VictoriaMetrics, bytes per point after force_flush + force_merge', (vmBytes / total).toFixed(3), `whole -storageDataPath ${mib(vmBytes)}; data/ alone ${(vmDataBytes / total).toFixed(3)} B/pt in ${vmParts} part${vmParts === 1 ? '' : 's'} (the rest is indexdb)`]);
    rows.push([`sluice, AVG over ${bigPoints.toLocaleString('en')} points of one series, \`GET /query\``, `**${minMedian(times.sluice, (ms) => `${ms.toFixed(2)} ms`)}**`, `min / median of ${queryCount}, keep-alive, warm, alternating with VictoriaMetrics; peak RSS of that server ${sluiceQueryRss.toFixed(0)} MiB`]);
    if (keptVm) rows.push([`VictoriaMetrics, avg_over_time over the same points, \`/api/v1/query\``, minMedian(times.vm, (ms) => `${ms.toFixed(2)} ms`), `min / median of ${queryCount}, nocache=1; peak RSS over its whole life ${vmFinalRss.toFixed(0)} MiB`]);
    for (const [durability, result] of Object.entries(acks)) {
      const sorted = [...result.latencies].sort((a, b) => a - b);
      rows.push([
        `sluice, WebSocket ack latency at ${millions(peakWs / 2)} points/s (half the median peak), durability ${durability}`,
        `p50 ${percentile(sorted, 50).toFixed(2)} ms, **p99 ${percentile(sorted, 99).toFixed(2)} ms**`,
        `max ${sorted.at(-1).toFixed(2)} ms, ${sorted.filter((ms) => ms > 100).length} over 100 ms, of ${sorted.length} messages of ${EVENTS_PER_MESSAGE}; sent at ${millions(total / result.seconds)} points/s, latest send ${result.maxLateMs.toFixed(1)} ms behind schedule; peak RSS ${result.rss.toFixed(0)} MiB`,
      ]);
    }
    console.log('');
    printRows(rows);
  } finally {
    for (const child of children) await stop(child);
    fs.rmSync(root, { recursive: true, force: true });
  }
}

run(main);
