'use strict';
// The price of the JS <-> native boundary, beside a pure-JS baseline, so later hot paths know what
// a call and a 1 MiB hand-over cost. Run: node bench/boundary.bench.js  (or npm run bench)
const Benchmark = require('benchmark');
const { native } = require('../dist/bindings/index.js');
const { printHeader } = require('./machine.js');

const { addon, file } = native();
const MIB = 1 << 20;
const DOUBLES = MIB / 8;

const doubles = addon.fillSequence(DOUBLES, 0, 0.25);
const bytes = Buffer.alloc(MIB, 7);
let sink = 0; // results land here so the work cannot be optimised away

function jsNoop() {
  return undefined;
}
function jsSumFloat64(values) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum;
}
function jsSumBytes(values) {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i];
  return sum;
}
function jsFillSequence(count, start, step) {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = start + step * i;
  return out;
}

// [group, name, fn, bytes moved per call]
const cases = [
  ['one call', 'JS function', () => jsNoop(), 0],
  ['one call', 'native noop()', () => addon.noop(), 0],
  ['1 MiB Float64Array in', 'JS loop sum', () => (sink += jsSumFloat64(doubles)), MIB],
  ['1 MiB Float64Array in', 'native sumFloat64 (zero-copy)', () => (sink += addon.sumFloat64(doubles)), MIB],
  ['1 MiB Buffer in', 'JS loop sum', () => (sink += jsSumBytes(bytes)), MIB],
  ['1 MiB Buffer in', 'native sumBytes (zero-copy)', () => (sink += addon.sumBytes(bytes)), MIB],
  ['1 MiB Float64Array out', 'JS new + fill', () => (sink += jsFillSequence(DOUBLES, 1, 0.5)[7]), MIB],
  ['1 MiB Float64Array out', 'native fill into V8 memory', () => (sink += addon.fillSequence(DOUBLES, 1, 0.5)[7]), MIB],
  ['1 MiB Float64Array out', 'native memory handed over (external)', () => (sink += addon.fillSequenceExternal(DOUBLES, 1, 0.5)[7]), MIB],
];

function formatTime(seconds) {
  if (seconds < 1e-6) return `${(seconds * 1e9).toFixed(1)} ns`;
  if (seconds < 1e-3) return `${(seconds * 1e6).toFixed(2)} µs`;
  return `${(seconds * 1e3).toFixed(3)} ms`;
}

printHeader('JS <-> native boundary');
console.log(`addon: ${file}\n`);
const suite = new Benchmark.Suite();
for (const [group, name, fn] of cases) suite.add(`${group} | ${name}`, fn, { minSamples: 20 });
const rows = [];
suite.on('cycle', (event) => {
  const bench = event.target;
  const [group, name, , movedBytes] = cases.find(([g, n]) => `${g} | ${n}` === bench.name);
  const perCall = bench.stats.mean;
  rows.push({ group, name, perCall, rme: bench.stats.rme, gbps: movedBytes ? movedBytes / perCall / 1e9 : undefined });
  console.error(`  measured ${bench.name}`);
});
suite.on('complete', () => {
  console.log('| what | how | time per call | ± | GB/s | vs JS |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const row of rows) {
    const baseline = rows.find((other) => other.group === row.group);
    const ratio = baseline.perCall / row.perCall;
    console.log(
      `| ${row.group} | ${row.name} | ${formatTime(row.perCall)} | ${row.rme.toFixed(1)}% | ` +
        `${row.gbps === undefined ? '' : row.gbps.toFixed(2)} | ${row === baseline ? '1.00' : `${ratio.toFixed(2)}×`} |`,
    );
  }
  console.log(`\n(checksum ${sink > 0 ? 'ok' : sink})`);
});
suite.run();
