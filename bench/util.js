'use strict';
// What the bench scripts share: flags, medians, the markdown table they print, the exit on error.

/** The number after --<name> on the command line, or `fallback`. */
function argument(name, fallback) {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/** Prints rows of [what, figure, detail] as a markdown table. */
function printRows(rows) {
  console.log('| what | figure | detail |');
  console.log('| --- | ---: | --- |');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
}

/** Runs an async main, exiting 1 with the error when it fails. */
function run(main) {
  main().catch((error) => {
    console.error(error);
    process.exit(1);
  });
}

module.exports = { argument, median, printRows, run };
