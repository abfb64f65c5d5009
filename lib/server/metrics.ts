// GET /metrics: the server's state in the Prometheus text format (version 0.0.4), for scraping.
import type { Database } from '../tsdb/index.js';
import type { HttpHandler } from './http.js';

/** Counters the server keeps beside the database's own. */
export interface ServerCounters {
  connections: () => number;
  websocketMessages: number;
  websocketRejected: number;
  httpWrites: number;
  httpRejected: number;
}

type Metric = [name: string, type: 'counter' | 'gauge', help: string, value: number];

export function metricsHandler(db: Database, counters: ServerCounters): HttpHandler {
  const startedSeconds = Date.now() / 1000;
  return () => {
    const stats = db.stats();
    const metrics: Metric[] = [
      ['sluice_points_written_total', 'counter', 'Points accepted by writes since the server started.', stats.pointsWritten],
      ['sluice_series', 'gauge', 'Distinct series known.', stats.series],
      ['sluice_memtable_points', 'gauge', 'Points in memory, not yet in segments.', stats.memtablePoints],
      ['sluice_memtable_bytes', 'gauge', 'Bytes of the memtables.', stats.memtableBytes],
      ['sluice_segments', 'gauge', 'Segment files.', stats.segments],
      ['sluice_segment_bytes', 'gauge', 'Bytes of the segment files.', stats.segmentBytes],
      ['sluice_wal_bytes_written_total', 'counter', 'Bytes appended to the write-ahead log.', stats.walBytesWritten],
      ['sluice_wal_unsynced_bytes', 'gauge', 'Log bytes written but not yet fsynced (the durability lag).', stats.walUnsyncedBytes],
      ['sluice_flushes_total', 'counter', 'Memtable flushes to segments.', stats.flushes],
      ['sluice_compactions_total', 'counter', 'Segment merges.', stats.compactions],
      ['sluice_websocket_connections', 'gauge', 'WebSocket connections open.', counters.connections()],
      ['sluice_websocket_messages_total', 'counter', 'WebSocket messages written.', counters.websocketMessages],
      ['sluice_websocket_rejected_total', 'counter', 'WebSocket messages refused (their connection closed).', counters.websocketRejected],
      ['sluice_http_writes_total', 'counter', 'HTTP write requests written.', counters.httpWrites],
      ['sluice_http_writes_rejected_total', 'counter', 'HTTP write requests refused.', counters.httpRejected],
      ['sluice_live_queries', 'gauge', 'Live queries open.', stats.liveQueries],
      ['sluice_live_events_dropped_total', 'counter', 'Live query events dropped for slow consumers.', stats.liveEventsDropped],
      ['process_resident_memory_bytes', 'gauge', 'Resident memory of the process.', process.memoryUsage.rss()],
      ['process_start_time_seconds', 'gauge', 'When the server started, in seconds since the epoch.', startedSeconds],
    ];
    const body = metrics.map(([name, type, help, value]) => `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name} ${value}\n`).join('');
    return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body };
  };
}
