// The shipped prebuilds: the x64 one loads on its own (PREBUILDS_ONLY=1), the arm64 one is an
// aarch64 ELF that needs nothing from node but Node-API, and it runs under qemu-user with Debian's
// arm64 Node.js when that is prepared (scripts/arm64-node-sysroot.sh; CI always prepares it).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from './helpers/paths.js';

const require = createRequire(import.meta.url);
const { prebuildFile, builtSourceHash } = require('../scripts/check-prebuilds.js') as {
  prebuildFile(arch: string): string | undefined;
  builtSourceHash(file: string): string | undefined;
};
const { nativeSourceHash } = require('../scripts/native-source-hash.js') as { nativeSourceHash(): string };

const inCI = Boolean(process.env.CI);
const arm64File = prebuildFile('arm64');
const sysroot = path.join(process.env.SLUICE_ARM64_SYSROOT ?? path.join(os.homedir(), '.cache', 'sluice', 'arm64-node'), 'sysroot');
const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64-static'], { encoding: 'utf8' }).stdout.trim();
const canRunArm64 = qemu !== '' && fs.existsSync(path.join(sysroot, 'usr', 'bin', 'node'));

describe('linux-x64 prebuild', () => {
  it('loads with PREBUILDS_ONLY=1, from prebuilds/, built from the current sources', () => {
    const script = `
      const { native } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'bindings', 'index.js'))});
      const { addon, file, prebuilt } = native();
      console.log(JSON.stringify({ file, prebuilt, info: addon.buildInfo(), sum: addon.sumFloat64(new Float64Array([1.5, 2.5])) }));`;
    const output = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, PREBUILDS_ONLY: '1' }, encoding: 'utf8' });
    const result = JSON.parse(output) as { file: string; prebuilt: boolean; info: { sourceHash: string; arch: string }; sum: number };
    expect(result.file).toBe(path.join(repoRoot, 'prebuilds', 'linux-x64', 'sluice.glibc.node'));
    expect(result.prebuilt).toBe(true);
    expect(result.info).toMatchObject({ sourceHash: nativeSourceHash(), arch: 'x64' });
    expect(result.sum).toBe(4);
  });
});

/** Dynamic symbols the binary needs from elsewhere, with their binding (GLOBAL/WEAK). */
function undefinedSymbols(file: string): { name: string; binding: string }[] {
  const table = execFileSync('readelf', ['--dyn-syms', '--wide', file], { encoding: 'utf8' });
  return table
    .split('\n')
    .map((line) => line.trim().split(/\s+/))
    .filter((fields) => fields[6] === 'UND' && fields[7])
    .map((fields) => ({ name: fields[7]!, binding: fields[4]! }));
}

describe.runIf(arm64File !== undefined || inCI)('linux-arm64 prebuild', () => {
  it('is a 64-bit aarch64 ELF built from the current sources', () => {
    expect(arm64File, 'prebuilds/linux-arm64 is missing: npm run prebuilds').toBeDefined();
    const header = fs.readFileSync(arm64File!).subarray(0, 20);
    expect(header.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46])); // \x7fELF
    expect(header[4]).toBe(2); // ELFCLASS64
    expect(header[5]).toBe(1); // little-endian
    expect(header.readUInt16LE(18)).toBe(183); // EM_AARCH64
    expect(builtSourceHash(arm64File!)).toBe(nativeSourceHash());
  });

  it('needs only libc and Node-API: no libstdc++, no V8 or libuv symbols', () => {
    const needed = execFileSync('readelf', ['--dynamic', arm64File!], { encoding: 'utf8' })
      .split('\n')
      .flatMap((line) => /\(NEEDED\).*\[(.+)\]/.exec(line)?.slice(1) ?? []);
    expect(needed.every((library) => /^(libc\.so\.6|libm\.so\.6|ld-linux-aarch64\.so\.1)$/.test(library)), needed.join(' ')).toBe(true);
    const symbols = undefinedSymbols(arm64File!);
    const fromNode = symbols.filter((symbol) => !symbol.name.includes('@') && symbol.binding !== 'WEAK');
    expect(fromNode.length).toBeGreaterThan(10);
    expect(fromNode.filter((symbol) => !/^(napi|node_api)_/.test(symbol.name))).toEqual([]);
    const versioned = symbols.filter((symbol) => symbol.name.includes('@'));
    expect(versioned.filter((symbol) => !/@GLIBC_\d/.test(symbol.name))).toEqual([]);
  });

  it.runIf(canRunArm64 || inCI)('loads and computes under qemu-user with Debian arm64 Node.js', () => {
    expect(canRunArm64, 'run scripts/arm64-node-sysroot.sh (needs qemu-user-static)').toBe(true);
    const script = `
      const addon = require(${JSON.stringify(arm64File)});
      const info = addon.buildInfo();
      console.log(JSON.stringify({ arch: process.arch, node: process.version, info,
        sum: addon.sumFloat64(new Float64Array([0.25, 0.5, 1e6])),
        seq: Array.from(addon.fillSequenceExternal(4, 1, 0.5)) }));`;
    const output = execFileSync(qemu, ['-L', sysroot, path.join(sysroot, 'usr', 'bin', 'node'), '-e', script], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    const result = JSON.parse(output) as { arch: string; info: { arch: string; sourceHash: string }; sum: number; seq: number[] };
    expect(result.arch).toBe('arm64');
    expect(result.info).toMatchObject({ arch: 'arm64', sourceHash: nativeSourceHash() });
    expect(result.sum).toBe(1000000.75);
    expect(result.seq).toEqual([1, 1.5, 2, 2.5]);
  });
});
