#!/usr/bin/env node
'use strict';
// Builds the SDK's example workflows into build/guests/<name>.wasm.
//
//   node scripts/build-guests.js                  every example
//   node scripts/build-guests.js anomaly ...      only these
//   node scripts/build-guests.js --force          rebuild even when nothing changed
//   node scripts/build-guests.js --skip-missing   skip (not fail) examples whose toolchain is absent
//   node scripts/build-guests.js --list           names only
//
// AssemblyScript examples compile with the installed assemblyscript package; Rust examples with
// cargo and a rustc that has the wasm32-unknown-unknown standard library (Debian's /usr/bin/rustc
// is preferred: rustup toolchains on our machines lack that target). CARGO_HOME and the target
// directory live under build/, so a clean machine builds offline without touching ~/.cargo.
// A build is skipped when the hash of its inputs (sources, tool versions, this script) matches the
// hash stored beside the module.
//
// From code: require('./scripts/build-guests.js').buildGuests({ names, force, skipMissing })
// resolves to [{ name, file, bytes, built }]. A missing toolchain exits with code 2 (1 otherwise)
// and throws MissingToolError from code.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..');
const outDir = path.join(root, 'build', 'guests');
const sdkAssemblyScript = 'sdk/assemblyscript';
const sdkRust = 'sdk/rust';

const guests = [
  { name: 'threshold-alert-as', language: 'assemblyscript', entry: 'sdk/examples/threshold-alert/assemblyscript/index.ts' },
  { name: 'http-enrich', language: 'assemblyscript', entry: 'sdk/examples/http-enrich/index.ts' },
  { name: 'threshold-alert-rust', language: 'rust', crateDir: 'sdk/examples/threshold-alert/rust', artifact: 'threshold_alert.wasm' },
  { name: 'anomaly', language: 'rust', crateDir: 'sdk/examples/anomaly', artifact: 'anomaly.wasm' },
];

// The options every AssemblyScript workflow needs (docs/sdk.md explains each).
const ascOptions = [
  '--runtime', 'incremental',
  '--exportStart', '_initialize',
  '--use', `abort=${sdkAssemblyScript}/index/sluiceAbort`,
  '-O3s',
];

const RUST_TARGET = 'wasm32-unknown-unknown';
const RUST_INSTALL_HINT =
  'apt-get install rustc cargo libstd-rust-dev-wasm32 (Debian/Ubuntu), or with rustup: rustup target add wasm32-unknown-unknown';

class MissingToolError extends Error {}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { encoding: 'utf8', ...options });
  if (result.error) throw result.error;
  return result;
}

/** Every file under `dir` (relative to the repo), skipping build output and Cargo.lock (cargo
 * writes it during the first build, and with path dependencies only it says nothing new). */
function listFiles(dir) {
  const files = [];
  const walk = (relative) => {
    for (const entry of fs.readdirSync(path.join(root, relative), { withFileTypes: true })) {
      const child = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'target' && entry.name !== 'node_modules') walk(child);
      } else if (entry.isFile() && entry.name !== 'Cargo.lock') {
        files.push(child);
      }
    }
  };
  walk(dir);
  return files.sort();
}

function hashInputs(dirs, toolVersion) {
  const hash = crypto.createHash('sha256');
  hash.update(toolVersion);
  hash.update(fs.readFileSync(__filename));
  for (const dir of dirs) {
    for (const file of listFiles(dir)) {
      hash.update(`\0${file}\0`);
      hash.update(fs.readFileSync(path.join(root, file)));
    }
  }
  return hash.digest('hex');
}

function isUpToDate(file, inputsHash) {
  try {
    return fs.existsSync(file) && fs.readFileSync(`${file}.inputs`, 'utf8') === inputsHash;
  } catch {
    return false;
  }
}

function recordInputs(file, inputsHash) {
  const scratch = `${file}.inputs.${process.pid}.tmp`;
  fs.writeFileSync(scratch, inputsHash);
  fs.renameSync(scratch, `${file}.inputs`);
}

// --- AssemblyScript -------------------------------------------------------------------------

let ascModule;
async function loadAsc() {
  if (!ascModule) {
    try {
      ascModule = (await import('assemblyscript/asc')).default;
    } catch (error) {
      throw new MissingToolError(`AssemblyScript is not installed (npm install --save-dev assemblyscript): ${error.message}`);
    }
  }
  return ascModule;
}

function ascVersion() {
  try {
    return require('assemblyscript/package.json').version;
  } catch {
    throw new MissingToolError('AssemblyScript is not installed (npm install --save-dev assemblyscript)');
  }
}

async function buildAssemblyScript(guest, file) {
  const asc = await loadAsc();
  const stderr = [];
  const relativeOut = path.relative(root, file);
  const { error } = await asc.main(
    [guest.entry, '--baseDir', root, '-o', relativeOut, ...ascOptions],
    { stdout: { write() {} }, stderr: { write: (text) => stderr.push(String(text)) } },
  );
  if (error) throw new Error(`asc failed for ${guest.entry}:\n${stderr.join('')}${error.message}`);
}

// --- Rust -------------------------------------------------------------------------------------

let rustTools;
/** A rustc with the wasm32 std and a cargo to drive it; throws MissingToolError naming what to install. */
function findRustTools() {
  if (rustTools) return rustTools;
  const rustcCandidates = [process.env.SLUICE_RUSTC, '/usr/bin/rustc', 'rustc'].filter(Boolean);
  const cargoCandidates = [process.env.SLUICE_CARGO, '/usr/bin/cargo', 'cargo'].filter(Boolean);
  let rustcFound = null;
  let rustc = null;
  for (const candidate of rustcCandidates) {
    const sysroot = spawnSync(candidate, ['--print', 'sysroot'], { encoding: 'utf8' });
    if (sysroot.status !== 0) continue;
    rustcFound = rustcFound || candidate;
    const targetLib = path.join(sysroot.stdout.trim(), 'lib', 'rustlib', RUST_TARGET, 'lib');
    const hasStd = fs.existsSync(targetLib) && fs.readdirSync(targetLib).some((name) => name.startsWith('libstd-'));
    if (hasStd) {
      rustc = candidate;
      break;
    }
  }
  if (!rustc) {
    throw new MissingToolError(
      rustcFound
        ? `${rustcFound} has no ${RUST_TARGET} standard library; install it: ${RUST_INSTALL_HINT}`
        : `rustc is not installed; install it: ${RUST_INSTALL_HINT}`,
    );
  }
  const cargo = cargoCandidates.find((candidate) => spawnSync(candidate, ['--version']).status === 0);
  if (!cargo) throw new MissingToolError(`cargo is not installed; install it: ${RUST_INSTALL_HINT}`);
  const version = run(rustc, ['--version']).stdout.trim();
  rustTools = { rustc, cargo, version };
  return rustTools;
}

function buildRust(guest, file) {
  const { rustc, cargo } = findRustTools();
  const targetDir = path.join(root, 'build', 'cargo-target');
  const env = {
    ...process.env,
    RUSTC: rustc,
    // Keep cargo's registry cache and the build output out of the user's home and source tree.
    CARGO_HOME: path.join(root, 'build', 'cargo-home'),
    CARGO_TARGET_DIR: targetDir,
  };
  // A RUSTFLAGS meant for the host (e.g. -C target-cpu=native) must not reach the wasm build.
  delete env.RUSTFLAGS;
  const manifest = path.join(root, guest.crateDir, 'Cargo.toml');
  const result = run(
    cargo,
    ['build', '--release', '--offline', '--target', RUST_TARGET, '--manifest-path', manifest],
    { env, cwd: root },
  );
  if (result.status !== 0) throw new Error(`cargo failed for ${guest.crateDir}:\n${result.stderr}`);
  fs.copyFileSync(path.join(targetDir, RUST_TARGET, 'release', guest.artifact), file);
}

// --- Driver -----------------------------------------------------------------------------------

async function buildGuest(guest, { force }) {
  const file = path.join(outDir, `${guest.name}.wasm`);
  let inputsHash;
  if (guest.language === 'assemblyscript') {
    inputsHash = hashInputs([sdkAssemblyScript, path.posix.dirname(guest.entry)], `asc ${ascVersion()} ${ascOptions.join(' ')}`);
  } else {
    inputsHash = hashInputs([sdkRust, guest.crateDir], findRustTools().version);
  }
  if (!force && isUpToDate(file, inputsHash)) {
    return { name: guest.name, file, bytes: fs.statSync(file).size, built: false };
  }
  fs.mkdirSync(outDir, { recursive: true });
  // Built under a temporary name and renamed, so a concurrent run never reads half a module.
  const scratch = `${file}.${process.pid}.tmp`;
  try {
    if (guest.language === 'assemblyscript') await buildAssemblyScript(guest, scratch);
    else buildRust(guest, scratch);
    // Validate here so a broken module fails the build, not a later deploy.
    const bytes = fs.readFileSync(scratch);
    if (!WebAssembly.validate(bytes)) throw new Error(`${guest.name}: the built module is not valid WebAssembly`);
    fs.renameSync(scratch, file);
    recordInputs(file, inputsHash);
    return { name: guest.name, file, bytes: bytes.length, built: true };
  } finally {
    fs.rmSync(scratch, { force: true });
  }
}

async function buildGuests({ names = [], force = false, skipMissing = false, onResult = () => {}, onSkip = () => {} } = {}) {
  const unknown = names.filter((name) => !guests.some((guest) => guest.name === name));
  if (unknown.length) {
    throw new Error(`unknown guest ${unknown.join(', ')}; known: ${guests.map((guest) => guest.name).join(', ')}`);
  }
  const selected = names.length ? guests.filter((guest) => names.includes(guest.name)) : guests;
  const results = [];
  for (const guest of selected) {
    let result;
    try {
      result = await buildGuest(guest, { force });
    } catch (error) {
      if (!(skipMissing && error instanceof MissingToolError)) throw error;
      onSkip(guest.name, error.message);
      continue;
    }
    onResult(result);
    results.push(result);
  }
  return results;
}

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const guest of guests) console.log(guest.name);
    return;
  }
  const force = args.includes('--force');
  const skipMissing = args.includes('--skip-missing');
  const names = args.filter((arg) => !arg.startsWith('--'));
  try {
    await buildGuests({
      names,
      force,
      skipMissing,
      onSkip: (name, reason) => console.log(`skipped    ${name}: ${reason}`),
      onResult: ({ file, bytes, built }) =>
        console.log(`${built ? 'built     ' : 'up to date'} ${path.relative(process.cwd(), file)} (${bytes} bytes)`),
    });
  } catch (error) {
    console.error(`build-guests: ${error.message}`);
    process.exitCode = error instanceof MissingToolError ? 2 : 1;
  }
}

module.exports = { buildGuests, guests, MissingToolError };

if (require.main === module) main();
