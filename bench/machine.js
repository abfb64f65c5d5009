'use strict';
// The header every benchmark prints: the machine, the runtime, and the command that produced it.
const os = require('node:os');
const path = require('node:path');

function machineLine() {
  const cpus = os.cpus();
  return [
    `${cpus[0]?.model ?? 'unknown CPU'} × ${cpus.length}`,
    `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `${os.type()} ${os.release()} ${os.arch()}`,
    `Node ${process.version}`,
  ].join(', ');
}

/** Prints the title, machine, date and the command that reproduces this run. */
function printHeader(title) {
  const script = path.relative(process.cwd(), process.argv[1] ?? '');
  console.log(`# ${title}`);
  console.log(`machine: ${machineLine()}`);
  console.log(`date:    ${new Date().toISOString()}`);
  console.log(`command: node ${[script, ...process.argv.slice(2)].join(' ')}`);
  console.log('');
}

module.exports = { printHeader, machineLine };
