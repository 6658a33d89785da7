// The layer rules of src/ (docs: README "Code map"; shared design: architecture.md). Imports point
// down only. A folder may import any folder in a lower layer and its peers in the same layer, so
// long as no cycle forms. `npm run lint:deps` checks them; `npm test` runs it first.
const LAYERS = [
  ['cli'],
  ['compare', 'export', 'analysis', 'demo'],
  ['train'],
  ['run'],
  ['config'],
  ['models', 'meta'],
  ['quantizers', 'data'],
  ['engine', 'util'],
];

const rankOf = new Map(LAYERS.flatMap((folders, rank) => folders.map((f) => [f, rank])));
const folders = [...rankOf.keys()];
const anyOf = (list) => `^src/(${list.join('|')})/`;

/** For each folder: importing anything in a higher layer is an error. */
const upward = folders
  .map((from) => {
    const above = folders.filter((to) => rankOf.get(to) < rankOf.get(from));
    return above.length === 0
      ? null
      : {
          name: `no-upward-from-${from}`,
          comment: `${from}/ sits below ${above.join(', ')}: imports point down the layers`,
          severity: 'error',
          from: { path: `^src/${from}/` },
          to: { path: anyOf(above) },
        };
  })
  .filter(Boolean);

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'a cycle makes two modules one concept; split out what both need',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...upward,
    {
      name: 'export-without-training',
      comment: 'exporting a model must not load the training stack: read run folders through run/',
      severity: 'error',
      from: { path: '^src/export/' },
      to: { path: '^src/train/' },
    },
    {
      name: 'util-imports-nothing-of-ours',
      comment: 'util/ is the bottom: errors, random streams, atomic writes',
      severity: 'error',
      from: { path: '^src/util/' },
      to: { path: '^src/(?!util/)' },
    },
    {
      name: 'folders-are-known',
      comment: 'a new top-level folder under src/ needs a place in the layers above',
      severity: 'error',
      from: { path: '^src/', pathNot: `^src/(${folders.join('|')})/|^src/index\\.ts$` },
      to: {},
    },
    {
      name: 'no-unresolvable',
      comment: 'an import that resolves to nothing',
      severity: 'error',
      from: {},
      // @tensorflow/tfjs-node is optional (--backend tensorflow), loaded only where installed.
      to: { couldNotResolve: true, pathNot: '^@tensorflow/tfjs-node$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default', 'types'], extensions: ['.ts', '.js', '.d.ts'] },
  },
};
