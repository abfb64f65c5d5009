// node-gyp-build ships no type declarations; this is the part of its API sluice uses.
declare module 'node-gyp-build' {
  interface NodeGypBuild {
    (dir: string): unknown;
    /** The path of the binary that would be loaded from `dir`; throws when none matches. */
    resolve(dir: string): string;
  }
  const nodeGypBuild: NodeGypBuild;
  export = nodeGypBuild;
}
