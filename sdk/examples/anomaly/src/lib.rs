//! Anomaly detection: compare each live value with the last hour's mean and standard deviation
//! and record values more than SIGMAS (default 3) deviations away. The count of anomalies found
//! survives restarts in workflow state.

use sluice_workflow::{env_var, log, poll_handle, query_history, query_live, state_get, state_set, write_event};

const LIVE: &str = "AVG:cpu.usage:[host=server-01]:[1m,now]";
const BASELINE_MEAN: &str = "AVG:cpu.usage:[host=server-01]:[1h]";
const BASELINE_SPREAD: &str = "STDDEV:cpu.usage:[host=server-01]:[1h]";
const COUNT_KEY: &str = "anomalies";

#[sluice_workflow::main]
fn main() {
    let sigmas: f64 = env_var("SIGMAS").and_then(|text| text.parse().ok()).unwrap_or(3.0);
    let mut anomalies: u64 = state_get(COUNT_KEY).and_then(|text| text.parse().ok()).unwrap_or(0);
    let handle = query_live(LIVE);
    if handle == 0 {
        log("anomaly: the live query was rejected");
        return;
    }
    loop {
        let event = match poll_handle(handle) {
            Some(event) if !event.value.is_nan() => event,
            _ => continue,
        };
        let mean = query_history(BASELINE_MEAN);
        let spread = query_history(BASELINE_SPREAD);
        // No history yet (NaN), or a flat one: nothing to compare with.
        if mean.is_nan() || spread.is_nan() || spread <= 0.0 {
            continue;
        }
        let score = (event.value - mean) / spread;
        if score.abs() < sigmas {
            continue;
        }
        anomalies += 1;
        let tags = format!("series=anomalies,source=cpu.usage,direction={}", if score > 0.0 { "high" } else { "low" });
        write_event(event.timestamp, score, &tags);
        state_set(COUNT_KEY, anomalies.to_string());
        log(&format!("anomaly #{}: {} is {:.1} deviations from the hourly mean {:.2}", anomalies, event.value, score, mean));
    }
}
