// The built package, loaded the way users load it (Node's own CommonJS loader, not the test
// runner's transform), so one module instance holds the addon.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const sluice = require('../../dist/lib/index.js') as typeof import('../../dist/lib/index.js');
export const bindings = require('../../dist/bindings/index.js') as typeof import('../../dist/bindings/index.js');
export const clientModule = require('../../dist/lib/client/index.js') as typeof import('../../dist/lib/client/index.js');
