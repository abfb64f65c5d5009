import fs from 'node:fs';
import { packageRoot } from '../bindings/index.js';

interface PackageJson {
  name: string;
  version: string;
}

const packageJson = JSON.parse(fs.readFileSync(`${packageRoot}/package.json`, 'utf8')) as PackageJson;

/** The installed sluice version, from package.json. */
export const version: string = packageJson.version;
