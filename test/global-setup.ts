// Before any test: make sure the prebuilds the suite checks exist and match the native sources.
// `npm run prebuilds` is what makes them; this only runs it when they are missing or stale.
import { execFileSync, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

const root = path.join(import.meta.dirname, '..');
const require = createRequire(import.meta.url);
const { prebuildStatus } = require('../scripts/check-prebuilds.js') as {
  prebuildStatus(): { arch: string; fresh: boolean }[];
};

export const hasArm64CrossCompiler = () =>
  spawnSync('sh', ['-c', 'command -v aarch64-linux-gnu-g++'], { stdio: 'ignore' }).status === 0;

export default function setup(): void {
  for (const { arch, fresh } of prebuildStatus()) {
    if (fresh) continue;
    if (arch === 'arm64' && !hasArm64CrossCompiler()) {
      console.warn('global-setup: no arm64 cross compiler (apt-get install -y g++-aarch64-linux-gnu): arm64 checks cannot run');
      continue;
    }
    console.log(`global-setup: building the linux-${arch} prebuild`);
    execFileSync(process.execPath, [path.join(root, 'scripts', 'prebuilds.js'), arch], { stdio: 'inherit', cwd: root });
  }
}
