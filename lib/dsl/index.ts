// The query language (docs/query.md).
export { parseQuery, MAX_QUERY_LENGTH, MAX_FILTER_DEPTH, DURATION_UNITS } from './parser.js';
export { printQuery, printFilter, printDuration } from './print.js';
export { quantileOf, BASE_OPS, type Query, type QueryOp, type TagFilter, type TimeBound, type TimeRange } from './ast.js';
