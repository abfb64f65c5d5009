'use strict';
// Network ingest on loopback (docs/benchmarks.md): several producers send the storage data set
// (bench/dataset.js) as WebSocket batch frames and as HTTP line protocol, first to a sink that
// drops everything (the load generator alone), then to `sluice serve`, then — when the Debian
// package `victoria-metrics` is installed — to VictoriaMetrics' Influx endpoint, all in one run.
// The server runs in its own process; this process is the load generator.
//   node bench/network-ingest.bench.js [--series 1000] [--points 2000] [--connections 2]
const { spawn, execFileSync } = require('node:child_process');
const fs = require('node:fs');
const http = require('node:http');
const os = require('node:os');
const path = require('node:path');
const WebSocket = require('ws');
const { encodeEvents } = require('../dist/lib/index.js');
const { generateSeries } = require('./dataset.js');
const { printHeader } = require('./machine.js');
const { argument, printRows, run } = require('./util.js');

const seriesCount = argument('series', 1000);
const pointsPerSeries = argument('points', 2000);
const connections = argument('connections', 2);
const EVENTS_PER_MESSAGE = 5000;
const LINES_PER_BODY = 5000;
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-net-'));
const cli = path.join(__dirname, '..', 'dist', 'lib', 'cli', 'bin.js');

/** The data set, interleaved by time across series (as live producers send it), in chunks. */
function buildPayloads() {
  const all = Array.from({ length: seriesCount }, (_, i) => generateSeries(i, { points: pointsPerSeries }));
  const frames = [];
  const bodies = [];
  let events = [];
  let lines = [];
  for (let p = 0; p < pointsPerSeries; p++) {
    for (const { name, tags, timestamps, values } of all) {
      events.push({ series: name, tags, timestamp: timestamps[p], value: values[p] });
      lines.push(`${name},host=${tags.host},region=${tags.region} value=${values[p]} ${timestamps[p]}`);
      if (events.length === EVENTS_PER_MESSAGE) {
        frames.push(encodeEvents(events));
        events = [];
      }
      if (lines.length === LINES_PER_BODY) {
        bodies.push(Buffer.from(lines.join('\n') + '\n'));
        lines = [];
      }
    }
  }
  if (events.length) frames.push(encodeEvents(events));
  if (lines.length) bodies.push(Buffer.from(lines.join('\n') + '\n'));
  return { frames, bodies, total: seriesCount * pointsPerSeries };
}

function startProcess(command, args, readyPattern) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const onData = (chunk) => {
      output += chunk;
      const match = readyPattern.exec(output);
      if (match) resolve({ child, match });
    };
    child.stdout.setEncoding('utf8').on('data', onData);
    child.stderr.setEncoding('utf8').on('data', onData);
    child.on('exit', (code) => reject(new Error(`${command} exited with ${code}: ${output.slice(-2000)}`)));
  });
}

function stop(child) {
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  return exited;
}

/** Peak resident memory of a process, from /proc (VmHWM). */
function peakRssMiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)[1]) / 1024;
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

function getJson(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

async function waitFor(check) {
  for (;;) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

/** Sends the frames over `connections` WebSockets; resolves when `done()` says all arrived. */
async function sendWebSocket(url, frames, done) {
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })),
  );
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

/** POSTs the bodies over `connections` keep-alive connections; resolves when `done()` says so. */
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

async function sluiceMetric(url, name) {
  const text = await getJson(`${url}/metrics`);
  return Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)[1]);
}

async function main() {
  printHeader('network ingest');
  console.log(`data set: ${seriesCount} series × ${pointsPerSeries} points; ${connections} connections; ${EVENTS_PER_MESSAGE} points per message / body\n`);
  const { frames, bodies, total } = buildPayloads();
  const rows = [];
  const rate = (seconds) => `${(total / seconds / 1e6).toFixed(2)} M points/s`;
  try {
    // 1. The load generator alone.
    const sink = await startProcess(process.execPath, ['-e', SINK], /sink on (\d+)/);
    const sinkUrl = `http://127.0.0.1:${sink.match[1]}`;
    const count = async () => JSON.parse(await getJson(`${sinkUrl}/count`));
    let seconds = await sendWebSocket(sinkUrl.replace('http', 'ws'), frames, async () => (await count()).messages === frames.length);
    rows.push(['load generator alone, WebSocket batch frames → a sink that drops', rate(seconds), `${frames.length} messages`]);
    seconds = await sendHttp(`${sinkUrl}/write`, bodies, async () => (await count()).bodies === bodies.length);
    rows.push(['load generator alone, HTTP line protocol → a sink that drops', rate(seconds), `${bodies.length} bodies`]);
    await stop(sink.child);

    // 2. sluice serve, one fresh data directory per protocol.
    for (const protocol of ['websocket', 'http']) {
      const dir = path.join(root, `sluice-${protocol}`);
      const server = await startProcess(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dir], /listening on (http:\/\/\S+)/);
      const url = server.match[1];
      const done = async () => (await sluiceMetric(url, 'sluice_points_written_total')) >= total;
      seconds = protocol === 'websocket' ? await sendWebSocket(url.replace('http', 'ws'), frames, done) : await sendHttp(`${url}/write?precision=us`, bodies, done);
      const written = await sluiceMetric(url, 'sluice_points_written_total');
      rows.push([`sluice serve, ${protocol === 'websocket' ? 'WebSocket batch frames' : 'HTTP line protocol (/write)'}`, `**${rate(seconds)}**`, `${written.toLocaleString('en')} points written; peak RSS ${peakRssMiB(server.child.pid).toFixed(0)} MiB; durability batch`]);
      await stop(server.child);
    }

    // 3. VictoriaMetrics, Influx line protocol on its own port, when installed.
    let vmBinary;
    try {
      vmBinary = execFileSync('sh', ['-c', 'command -v victoria-metrics'], { encoding: 'utf8' }).trim();
    } catch {
      rows.push(['VictoriaMetrics', '—', 'not installed (Debian package victoria-metrics)']);
    }
    if (vmBinary) {
      const version = execFileSync('sh', ['-c', 'dpkg-query -W -f "\${Version}" victoria-metrics 2>/dev/null || true'], { encoding: 'utf8' }).trim() || 'version unknown';
      const vm = await startProcess(vmBinary, ['-storageDataPath', path.join(root, 'vm'), '-httpListenAddr', '127.0.0.1:8428', '-retentionPeriod', '100y'], /started VictoriaMetrics/);
      await waitFor(() => getJson('http://127.0.0.1:8428/health').then(() => true, () => false));
      // Rows VictoriaMetrics has put in its storage (its ingest is asynchronous to the 204).
      const inserted = async () => {
        const text = await getJson('http://127.0.0.1:8428/metrics');
        const match = /^vm_rows_added_to_storage_total (\S+)$/m.exec(text);
        return match ? Number(match[1]) : 0;
      };
      seconds = await sendHttp('http://127.0.0.1:8428/write?precision=us', bodies, async () => (await inserted()) >= total);
      rows.push([`VictoriaMetrics ${version}, HTTP line protocol (/write)`, rate(seconds), `peak RSS ${peakRssMiB(vm.child.pid).toFixed(0)} MiB; done when vm_rows_added_to_storage_total reaches the total`]);
      await stop(vm.child);
    }
    printRows(rows);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

run(main);
