// The `sluice` command: dispatches to one verb, and owns exit codes and error reporting.
import { version } from '../package-info.js';
import { EXIT_FAILURE, EXIT_OK, EXIT_USAGE, UsageError, type Command } from './command.js';
import { queryCommand } from './query.js';
import { serveCommand } from './serve.js';
import { workflowCommand } from './workflow.js';

const commands: Command[] = [serveCommand, queryCommand, workflowCommand];

function usage(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `Usage: sluice <command> [options]

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

Options:
  -h, --help     show this help (also: sluice <command> --help, sluice help <command>)
  -v, --version  print the version

Exit codes: 0 success, 1 failure, 2 bad arguments.`;
}

function findCommand(name: string): Command {
  const command = commands.find((candidate) => candidate.name === name);
  if (!command) {
    throw new UsageError(`unknown command "${name}"; commands: ${commands.map((each) => each.name).join(', ')}`);
  }
  return command;
}

/** Runs the command line `argv` (without node and the script); resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  let where = 'sluice';
  try {
    if (verb === undefined) {
      console.error(usage());
      return EXIT_USAGE;
    }
    if (verb === '--help' || verb === '-h') {
      console.log(usage());
      return EXIT_OK;
    }
    if (verb === '--version' || verb === '-v') {
      console.log(version);
      return EXIT_OK;
    }
    if (verb === 'help') {
      console.log(rest[0] === undefined ? usage() : findCommand(rest[0]).help);
      return EXIT_OK;
    }
    if (verb.startsWith('-')) throw new UsageError(`unknown option "${verb}" (a command comes first: sluice <command>)`);
    const command = findCommand(verb);
    where = `sluice ${command.name}`;
    return await command.run(rest);
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    if (error instanceof UsageError) {
      console.error(`${where}: ${message} (see ${where} --help)`);
      return EXIT_USAGE;
    }
    const code = (error as { code?: string }).code;
    console.error(`${where}: ${message}${code?.startsWith('SLUICE_') ? ` [${code}]` : ''}`);
    const detail = (error as { detail?: unknown }).detail;
    if (typeof detail === 'string') console.error(detail);
    return EXIT_FAILURE;
  }
}
