//! Write sluice WebAssembly workflows in Rust.
//!
//! ```ignore
//! use sluice_workflow::{poll_handle, query_live, write_event, unix_micros};
//!
//! #[sluice_workflow::main]
//! fn main() {
//!     let handle = query_live("AVG:cpu.usage:[host=server-01]:[1m,now]");
//!     loop {
//!         if let Some(event) = poll_handle(handle) {
//!             if event.value > 80.0 {
//!                 write_event(unix_micros(), event.value, "series=alerts,severity=high");
//!             }
//!         }
//!     }
//! }
//! ```
//!
//! The crate exports `allocate` and `deallocate` for the host; `#[sluice_workflow::main]` exports
//! `call`. Build a `cdylib` for `wasm32-unknown-unknown` (see sdk/rust/README.md).

mod event;
mod host;
mod memory;

pub use event::Event;
pub use memory::{allocate, deallocate};
pub use sluice_workflow_macros::main;

use memory::{take_bytes, Region};

/// HTTP methods for [`writeback_http`], numbered as the ABI numbers them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Method {
    Get = 0,
    Post = 1,
    Put = 2,
    Delete = 3,
}

/// Registers a live query (query DSL text). Returns its handle, 0 when the query is invalid.
pub fn query_live(query: &str) -> u64 {
    let filter = Region::borrow(query.as_bytes());
    unsafe { host::u_query_live(&filter) as u64 }
}

/// The next event of a live query, or `None` when none arrived within the host's wait (about a
/// second). Loop on it: the host suspends the workflow while it waits.
pub fn poll_handle(handle: u64) -> Option<Event> {
    let region = unsafe { host::u_poll_handle(handle as i64) };
    if region.is_null() {
        return None;
    }
    let bytes = unsafe { take_bytes(region) };
    let event = event::parse_event(&bytes);
    if event.is_none() {
        log("sluice-workflow: ignored a malformed event");
    }
    event
}

/// Unregisters a live query. True when the handle was known.
pub fn free_handle(handle: u64) -> bool {
    unsafe { host::u_free_handle(handle as i64) == 0 }
}

/// Aggregate over stored data: NaN when no point matched, 0 when the query is invalid.
pub fn query_history(query: &str) -> f64 {
    let filter = Region::borrow(query.as_bytes());
    unsafe { host::u_query_history(&filter) }
}

/// Writes one point. `tags` is `"series=<name>,k=v,..."`. True when written.
pub fn write_event(timestamp_us: i64, value: f64, tags: &str) -> bool {
    let timestamp_text = timestamp_us.to_string();
    let value_text = float_text(value);
    let timestamp = Region::borrow(timestamp_text.as_bytes());
    let value = Region::borrow(value_text.as_bytes());
    let tags = Region::borrow(tags.as_bytes());
    unsafe { host::u_write_event(&timestamp, &value, &tags) == 0 }
}

/// Float text both the host's parsers read (Rust spells infinity "inf").
fn float_text(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "Infinity" } else { "-Infinity" }.to_string()
    } else {
        value.to_string()
    }
}

/// Sends a message to a producer's WebSocket. False when it is unknown or closed.
pub fn writeback_ws(producer: u64, data: impl AsRef<[u8]>) -> bool {
    let data = Region::borrow(data.as_ref());
    unsafe { host::u_writeback_ws(producer as i64, &data) == 0 }
}

/// An HTTP request; the response body (lossy UTF-8), or `None` on error, timeout or a URL the
/// host does not allow.
pub fn writeback_http(url: &str, body: impl AsRef<[u8]>, method: Method) -> Option<String> {
    writeback_http_bytes(url, body, method).map(lossy_string)
}

/// [`writeback_http`] returning the raw response bytes.
pub fn writeback_http_bytes(url: &str, body: impl AsRef<[u8]>, method: Method) -> Option<Vec<u8>> {
    let url = Region::borrow(url.as_bytes());
    let body = Region::borrow(body.as_ref());
    let response = unsafe { host::u_writeback_http(&url, &body, method as i32) };
    if response.is_null() {
        None
    } else {
        Some(unsafe { take_bytes(response) })
    }
}

/// The value stored under `key` (durable across restarts) as lossy UTF-8, `None` when absent.
pub fn state_get(key: &str) -> Option<String> {
    state_get_bytes(key).map(lossy_string)
}

/// The raw bytes stored under `key`, `None` when absent.
pub fn state_get_bytes(key: &str) -> Option<Vec<u8>> {
    let key = Region::borrow(key.as_bytes());
    let value = unsafe { host::u_state_get(&key) };
    if value.is_null() {
        None
    } else {
        Some(unsafe { take_bytes(value) })
    }
}

/// Stores `value` under `key` (key ≤ 1 KiB, value ≤ 1 MiB). True when stored.
pub fn state_set(key: &str, value: impl AsRef<[u8]>) -> bool {
    let key = Region::borrow(key.as_bytes());
    let value = Region::borrow(value.as_ref());
    unsafe { host::u_state_set(&key, &value) == 0 }
}

/// Removes `key` (true also when it was absent).
pub fn state_delete(key: &str) -> bool {
    let key = Region::borrow(key.as_bytes());
    unsafe { host::u_state_delete(&key) == 0 }
}

/// Appends a line to the workflow's log.
pub fn log(message: &str) {
    let message = Region::borrow(message.as_bytes());
    unsafe {
        host::u_log(&message);
    }
}

/// `log!("x = {}", x)`: [`log`] with formatting.
#[macro_export]
macro_rules! log {
    ($($arg:tt)*) => { $crate::log(&::std::format!($($arg)*)) };
}

/// Wall-clock time in µs since the Unix epoch (0 if the host has no clock).
pub fn unix_micros() -> i64 {
    const CLOCK_REALTIME: u32 = 0;
    let mut nanos: u64 = 0;
    let errno = unsafe { host::clock_time_get(CLOCK_REALTIME, 1_000, &mut nanos) };
    if errno != 0 {
        return 0;
    }
    (nanos / 1_000) as i64
}

/// A deploy-time environment variable (`--env K=V`), `None` when unset.
/// (`std::env::var` sees nothing on wasm32-unknown-unknown, so the SDK asks WASI itself.)
pub fn env_var(name: &str) -> Option<String> {
    const MAX_ENV_BYTES: usize = 1 << 20;
    const MAX_ENV_COUNT: usize = 1 << 16;
    let (mut count, mut size) = (0u32, 0u32);
    if unsafe { host::environ_sizes_get(&mut count, &mut size) } != 0 {
        return None;
    }
    let (count, size) = (count as usize, size as usize);
    if count == 0 || count > MAX_ENV_COUNT || size > MAX_ENV_BYTES {
        return None;
    }
    let mut pointers: Vec<*const u8> = vec![core::ptr::null(); count];
    let mut buffer = vec![0u8; size];
    if unsafe { host::environ_get(pointers.as_mut_ptr(), buffer.as_mut_ptr()) } != 0 {
        return None;
    }
    // Entries are "K=V\0" inside `buffer`; the pointers only tell where each starts.
    let base = buffer.as_ptr() as usize;
    pointers.iter().find_map(|&entry| {
        let start = (entry as usize).checked_sub(base).filter(|&start| start < size)?;
        let rest = &buffer[start..];
        let entry = &rest[..rest.iter().position(|&b| b == 0).unwrap_or(rest.len())];
        let value = entry.strip_prefix(name.as_bytes())?.strip_prefix(b"=")?;
        Some(lossy_string(value.to_vec()))
    })
}

/// Ends the workflow with `code` (WASI proc_exit).
pub fn exit(code: u32) -> ! {
    unsafe { host::proc_exit(code) }
    // The host does not return from proc_exit; trap if one does.
    std::process::abort()
}

fn lossy_string(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned())
}

/// What `#[sluice_workflow::main]` may return: nothing, or a `Result` whose error is logged.
pub trait MainResult {
    fn report(self);
}

impl MainResult for () {
    fn report(self) {}
}

impl<E: core::fmt::Debug> MainResult for Result<(), E> {
    fn report(self) {
        if let Err(error) = self {
            log(&format!("workflow failed: {:?}", error));
        }
    }
}

#[doc(hidden)]
pub mod __private {
    /// The body of the generated `call` export.
    pub fn run_main<R: crate::MainResult>(main: fn() -> R) {
        // Panics abort (trap); log their message first, as stderr goes nowhere on this target.
        std::panic::set_hook(Box::new(|info| crate::log(&format!("workflow panicked: {}", info))));
        main().report();
    }
}
