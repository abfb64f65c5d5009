// `npm pack` gives a tarball that installs into an empty folder and works there: require, import,
// the sluice command and the server, loading the prebuild with no compiler at hand.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, repoRoot } from './helpers/paths.js';
import { startServeProcess } from './helpers/process.js';

const temp = makeTempDir('sluice-pack-');
const project = path.join(temp.dir, 'consumer');
let tarball = '';
let files: string[] = [];

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 170_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

beforeAll(() => {
  const packed = JSON.parse(run('npm', ['pack', '--json', '--silent', '--pack-destination', temp.dir], repoRoot)) as {
    filename: string;
    files: { path: string }[];
  }[];
  tarball = path.join(temp.dir, packed[0]!.filename);
  files = packed[0]!.files.map((file) => file.path);
  fs.mkdirSync(project);
  // allowScripts lets sluice's own install step (node-gyp-build) run, as npm before 11.x always did;
  // the compiler that always fails proves that step needs none when a prebuild matches.
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, allowScripts: { sluice: true } }),
  );
  run('npm', ['install', '--no-audit', '--no-fund', tarball], project, {
    CC: 'false',
    CXX: 'false',
    npm_config_loglevel: 'error',
  });
}, 180_000);

afterAll(() => temp.cleanup());

describe('the npm package', () => {
  it('contains the built code, both prebuilds and the native sources, and no tests or build output', () => {
    expect(files).toEqual(expect.arrayContaining([
      'package.json',
      'README.md',
      'binding.gyp',
      'dist/lib/index.js',
      'dist/lib/index.d.ts',
      'dist/lib/client/index.js',
      'dist/browser/sluice-client.js',
      'dist/lib/cli/bin.js',
      'native/addon.cc',
      'scripts/native-source-hash.js',
      'prebuilds/linux-x64/sluice.glibc.node',
      'prebuilds/linux-arm64/sluice.glibc.node',
    ]));
    expect(files.filter((file) => /^(test|bench|build|lib|bindings)\//.test(file) || file.endsWith('.tgz'))).toEqual([]);
  });

  it('installs without compiling and loads the prebuild', () => {
    const installed = path.join(project, 'node_modules', 'sluice');
    expect(fs.existsSync(path.join(installed, 'build'))).toBe(false);
    const info = JSON.parse(run('node', ['-e', 'console.log(JSON.stringify(require("sluice").nativeInfo()))'], project)) as {
      file: string;
      prebuilt: boolean;
    };
    expect(info.prebuilt).toBe(true);
    expect(info.file).toBe(path.join(installed, 'prebuilds', 'linux-x64', 'sluice.glibc.node'));
  });

  it('works with require and with import, including the client subpath', () => {
    const viaRequire = run('node', ['-e', `
      const sluice = require('sluice');
      const { SluiceClient } = require('sluice/client');
      console.log(JSON.stringify({ version: sluice.version, keys: Object.keys(sluice).filter((key) => key !== '__esModule').sort(), client: typeof SluiceClient }));`], project);
    const viaImport = run('node', ['--input-type=module', '-e', `
      import * as sluice from 'sluice';
      import { version, startServer } from 'sluice';
      import { SluiceClient } from 'sluice/client';
      const keys = Object.keys(sluice).filter((key) => !['default', 'module.exports', '__esModule'].includes(key)).sort();
      console.log(JSON.stringify({ version, keys, client: typeof SluiceClient, start: typeof startServer }));`], project);
    const required = JSON.parse(viaRequire) as { version: string; keys: string[]; client: string };
    const imported = JSON.parse(viaImport) as { version: string; keys: string[]; client: string; start: string };
    expect(required.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(imported.version).toBe(required.version);
    expect(imported.keys).toEqual(required.keys); // every CommonJS export is a named ESM export
    expect(required.keys).toEqual(expect.arrayContaining(['startServer', 'nativeInfo', 'version', 'SluiceError']));
    expect([required.client, imported.client, imported.start]).toEqual(['function', 'function', 'function']);
  });

  it('type-checks in a strict TypeScript project without the DOM library and without skipLibCheck', () => {
    // The typings must stand on es2022 and @types/node alone (the WebAssembly JS API is declared
    // by TypeScript only in its DOM library, which a Node project need not have).
    const typed = path.join(temp.dir, 'typed');
    fs.mkdirSync(path.join(typed, 'node_modules', '@types'), { recursive: true });
    fs.symlinkSync(path.join(project, 'node_modules', 'sluice'), path.join(typed, 'node_modules', 'sluice'));
    fs.symlinkSync(path.join(repoRoot, 'node_modules', '@types', 'node'), path.join(typed, 'node_modules', '@types', 'node'));
    fs.writeFileSync(path.join(typed, 'package.json'), JSON.stringify({ name: 'typed', private: true, type: 'module' }));
    fs.writeFileSync(
      path.join(typed, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'nodenext', moduleResolution: 'nodenext', target: 'es2022', lib: ['es2022'], types: ['node'],
          strict: true, skipLibCheck: false, noEmit: true,
        },
      }),
    );
    fs.writeFileSync(
      path.join(typed, 'index.ts'),
      [
        "import { open, startServer, startWorkflows, type WindowResult } from 'sluice';",
        "import { SluiceClient } from 'sluice/client';",
        "const db = await open({ dir: './data', queryThreads: 2 });",
        "const windows: WindowResult = db.aggregateWindows({ series: 't', every: '1s', op: 'avg' });",
        'const runtime = await startWorkflows(db, {});',
        "const server = await startServer({ dataDir: './served', port: 0, cors: false });",
        "const client = new SluiceClient({ url: 'http://127.0.0.1:1' });",
        'console.log(windows.starts.length, runtime, server, client);',
        // A misuse the typings must catch:
        "// @ts-expect-error op is one of the aggregate ops",
        "db.aggregate({ series: 't', op: 'median' });",
      ].join('\n'),
    );
    const result = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', typed], {
      encoding: 'utf8',
    });
    expect(result.stdout + result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('gives browsers the client bundle: through the browser condition (bundlers) and as sluice/client/browser', async () => {
    const { build } = await import('esbuild');
    const bundled = await build({
      stdin: { contents: `import { SluiceClient } from 'sluice/client'; globalThis.client = new SluiceClient({ url: 'http://127.0.0.1:2077' });`, resolveDir: project, loader: 'js' },
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      absWorkingDir: project,
      logLevel: 'silent',
    });
    expect(Object.keys(bundled.metafile.inputs).filter((input) => input.includes('node_modules/'))).toEqual(['node_modules/sluice/dist/browser/sluice-client.js']);
    const explicit = run('node', ['--input-type=module', '-e', `
      const client = await import('sluice/client/browser');
      console.log(JSON.stringify({ url: import.meta.resolve('sluice/client/browser'), exports: Object.keys(client).sort() }));`], project);
    expect(JSON.parse(explicit)).toEqual({
      url: expect.stringMatching(/node_modules\/sluice\/dist\/browser\/sluice-client\.js$/),
      exports: ['Producer', 'SluiceClient', 'SluiceRequestError'],
    });
  });

  it('runs the sluice command: --version, and serve answering /health', async () => {
    const version = run('npx', ['--no-install', 'sluice', '--version'], project).trim();
    expect(version).toBe((JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version);
    const server = await startServeProcess(['serve', '--port', '0'], {
      cwd: project,
      command: [path.join(project, 'node_modules', '.bin', 'sluice')],
    });
    try {
      const health = (await (await fetch(`${server.url}/health`)).json()) as { status: string; backend: string; dataDir: string };
      expect(health).toMatchObject({ status: 'ok', backend: 'uws', dataDir: path.join(project, 'sluice-data') });
    } finally {
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);
    }
  });

  it('falls back to node:http, saying why, where uWebSockets.js is not installed', async () => {
    const uws = path.join(project, 'node_modules', 'uWebSockets.js');
    const aside = `${uws}.aside`;
    fs.renameSync(uws, aside);
    try {
      const server = await startServeProcess(['serve', '--port', '0', '--data-dir', path.join(temp.dir, 'fallback')], {
        cwd: project,
        command: [path.join(project, 'node_modules', '.bin', 'sluice')],
      });
      try {
        expect(server.stderr()).toMatch(/using node:http because uWebSockets\.js does not load/);
        expect(await (await fetch(`${server.url}/health`)).json()).toMatchObject({ status: 'ok', backend: 'node' });
      } finally {
        server.child.kill('SIGTERM');
        await server.exited;
      }
    } finally {
      fs.renameSync(aside, uws);
    }
  });
});

