'use strict';
// Line protocol parsing: lines/s and MB/s for 4 MiB buffers of (a) single-field lines over 1,000
// series and (b) Telegraf-like lines with 5 fields. Run: node bench/line-protocol.bench.js
const Benchmark = require('benchmark');
const { native } = require('../dist/bindings/index.js');
const { printHeader } = require('./machine.js');

const { addon, file } = native();
const BUFFER_BYTES = 4 * (1 << 20);
const BASE_NS = 1700000000000000000n;

/** Lines from `makeLine(i)` until the next one would pass 4 MiB. */
function buildBuffer(makeLine) {
  const lines = [];
  let bytes = 0;
  for (let i = 0; ; i++) {
    const line = `${makeLine(i)}\n`;
    if (bytes + line.length > BUFFER_BYTES) break;
    lines.push(line);
    bytes += line.length;
  }
  return { buffer: Buffer.from(lines.join(''), 'latin1'), lines: lines.length };
}

const singleField = buildBuffer(
  (i) => `cpu,host=host_${i % 1000},region=eu value=${(42.17 + (i % 97)).toFixed(2)} ${BASE_NS + BigInt(i) * 10n ** 9n}`,
);
const telegraf = buildBuffer(
  (i) =>
    `cpu,cpu=cpu${i % 8},host=host_${i % 125},region=eu-west-1 usage_user=${(i % 100) / 3},usage_system=${(i % 17) / 7},` +
    `usage_idle=${90 + (i % 10) / 10},usage_iowait=0.${i % 10},usage_irq=0 ${BASE_NS + BigInt(i) * 10n ** 9n}`,
);

const cases = [
  ['single field, 1,000 series, ns timestamps', singleField],
  ['Telegraf-like, 5 fields, 1,000 series, ns timestamps', telegraf],
];

let sink = 0; // results land here so the work cannot be optimised away
printHeader('Line protocol parsing');
console.log(`addon: ${file}\n`);
const suite = new Benchmark.Suite();
for (const [name, input] of cases) {
  const check = addon.parseLineProtocol(input.buffer, 'ns', 0n);
  if (check.timestamps.length === 0) throw new Error(`${name}: no points`);
  input.points = check.values.length;
  input.series = check.seriesKeys.length;
  suite.add(name, () => (sink += addon.parseLineProtocol(input.buffer, 'ns', 0n).values.length), { minSamples: 20 });
}
const rows = [];
suite.on('cycle', (event) => {
  const bench = event.target;
  const [, input] = cases.find(([name]) => name === bench.name);
  // The fastest sample beside the mean: on a shared machine it is the closer figure for one core.
  rows.push({ name: bench.name, input, perCall: bench.stats.mean, best: Math.min(...bench.stats.sample), rme: bench.stats.rme });
  console.error(`  measured ${bench.name}`);
});
suite.on('complete', () => {
  console.log('| input (4 MiB buffer) | lines | points | series | mean time | ± | lines/s | points/s | MB/s | best time | best lines/s | best MB/s |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
  const millions = (count, seconds) => `${(count / seconds / 1e6).toFixed(2)} M`;
  for (const { name, input, perCall, best, rme } of rows) {
    console.log(
      `| ${name} | ${input.lines} | ${input.points} | ${input.series} | ${(perCall * 1e3).toFixed(2)} ms | ${rme.toFixed(1)}% | ` +
        `${millions(input.lines, perCall)} | ${millions(input.points, perCall)} | ${(input.buffer.length / perCall / 1e6).toFixed(0)} | ` +
        `${(best * 1e3).toFixed(2)} ms | ${millions(input.lines, best)} | ${(input.buffer.length / best / 1e6).toFixed(0)} |`,
    );
  }
  console.log(`\n(checksum ${sink > 0 ? 'ok' : sink})`);
});
suite.run();
