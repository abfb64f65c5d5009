//! Threshold alert: watch a live average and raise an alert when it crosses a threshold.
//! THRESHOLD (deploy --env THRESHOLD=90) overrides the default of 80.

use sluice_workflow::{env_var, log, poll_handle, query_live, unix_micros, write_event, writeback_ws};

const QUERY: &str = "AVG:cpu.usage:[host=server-01]:[1m,now]";
const DEFAULT_THRESHOLD: f64 = 80.0;

#[sluice_workflow::main]
fn main() {
    let threshold = env_var("THRESHOLD").and_then(|text| text.parse().ok()).unwrap_or(DEFAULT_THRESHOLD);
    let handle = query_live(QUERY);
    if handle == 0 {
        log(&format!("threshold-alert: the query was rejected: {}", QUERY));
        return;
    }
    log(&format!("threshold-alert: watching {} for values above {}", QUERY, threshold));
    loop {
        let event = match poll_handle(handle) {
            Some(event) if event.value > threshold => event,
            _ => continue,
        };
        write_event(unix_micros(), event.value, "series=alerts,severity=high,service=cpu-monitor,host=server-01");
        let message = format!(r#"{{"alert":"cpu.usage","value":{},"threshold":{}}}"#, event.value, threshold);
        for &producer in &event.producers {
            writeback_ws(producer, &message);
        }
    }
}
