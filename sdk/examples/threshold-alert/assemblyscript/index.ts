// Threshold alert: watch a live average and raise an alert when it crosses a threshold.
// THRESHOLD (deploy --env THRESHOLD=90) overrides the default of 80.
import { queryLive, pollHandle, writeEvent, writebackWs, envVar, log, nowMicros } from "../../../assemblyscript/index";
export { allocate, deallocate } from "../../../assemblyscript/index";

const QUERY = "AVG:cpu.usage:[host=server-01]:[1m,now]";
const DEFAULT_THRESHOLD: f64 = 80.0;

export function call(): void {
  const configured = envVar("THRESHOLD");
  const threshold = configured != null ? parseFloat(configured) : DEFAULT_THRESHOLD;
  const handle = queryLive(QUERY);
  if (handle == 0) {
    log("threshold-alert: the query was rejected: " + QUERY);
    return;
  }
  log("threshold-alert: watching " + QUERY + " for values above " + threshold.toString());
  while (true) {
    const event = pollHandle(handle);
    if (event == null || !(event.value > threshold)) continue;
    writeEvent(nowMicros(), event.value, "series=alerts,severity=high,service=cpu-monitor,host=server-01");
    const message = '{"alert":"cpu.usage","value":' + event.value.toString() + ',"threshold":' + threshold.toString() + "}";
    for (let i = 0; i < event.producers.length; i++) {
      writebackWs(event.producers[i], message);
    }
  }
}
