#!/usr/bin/env node
'use strict';
// Builds the browser bundle of the client SDK: dist/browser/sluice-client.js, one ES module
// (docs/client.md#in-a-browser). The client uses the page's fetch and WebSocket; the `ws` package
// (its fallback on Node before 22) is replaced by a stub that is never reached in a browser, and
// a bundle that would need any Node module fails the build.
const fs = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.join(__dirname, '..');
const outDir = path.join(root, 'dist', 'browser');

const browserOnly = {
  name: 'browser-only',
  setup(build) {
    build.onResolve({ filter: /^ws$/ }, () => ({ path: 'ws', namespace: 'sluice-no-ws' }));
    build.onLoad({ filter: /.*/, namespace: 'sluice-no-ws' }, () => ({
      contents: 'export default class { constructor() { throw new Error("sluice/client: this environment has no global WebSocket"); } }',
      loader: 'js',
    }));
    build.onResolve({ filter: /^node:|^(fs|path|os|crypto|http|https|net|tls|stream|buffer|events|util|url|zlib|worker_threads|child_process)$/ }, (args) => ({
      errors: [{ text: `the browser bundle may not import the Node module "${args.path}" (from ${path.relative(root, args.importer)})` }],
    }));
  },
};

esbuild
  .build({
    entryPoints: [path.join(root, 'lib', 'client', 'index.ts')],
    outfile: path.join(outDir, 'sluice-client.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    sourcemap: true,
    logLevel: 'warning',
    plugins: [browserOnly],
  })
  .then(() => {
    // So Node and bundlers read the .js file as the ES module it is (the package is CommonJS).
    // Nothing on stdout: `npm pack --json` runs this (prepack) and its stdout must stay JSON.
    fs.writeFileSync(path.join(outDir, 'package.json'), '{ "type": "module" }\n');
  })
  .catch(() => process.exit(1));
