import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import { cliBin } from './paths.js';

/** Runs `sluice ARGS` to completion. */
export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [cliBin, ...args], {
    encoding: 'utf8',
    timeout: 20_000,
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
  });
}

export interface RunningServer {
  child: ChildProcess;
  url: string;
  stdout(): string;
  stderr(): string;
  /** Resolves to the exit code (or the signal name) once the process has exited. */
  exited: Promise<number | string>;
}

/**
 * Starts a long-running command (by default `sluice serve ARGS`) and waits for its
 * "listening on <url>" line. Rejects with its output if it exits first.
 */
export function startServeProcess(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; command?: string[] } = {},
): Promise<RunningServer> {
  const command = options.command ?? [process.execPath, cliBin];
  const [file, ...prefix] = command;
  const child = spawn(file!, [...prefix, ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')),
  );
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no "listening on" line within 20 s; stdout: ${stdout}; stderr: ${stderr}`));
    }, 20_000);
    const onData = () => {
      const match = /listening on (http:\/\/\S+)/.exec(stdout);
      if (!match) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve({ child, url: match[1]!, stdout: () => stdout, stderr: () => stderr, exited });
    };
    child.stdout!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code} before listening; stdout: ${stdout}; stderr: ${stderr}`));
    });
  });
}
