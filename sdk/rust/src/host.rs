//! Raw imports of the sluice workflow ABI. Pointers are Region pointers; handles and producer ids
//! are i64, as in the seed's signatures.

use crate::memory::Region;

#[link(wasm_import_module = "env")]
extern "C" {
    pub fn u_query_live(filter: *const Region) -> i64;
    pub fn u_query_history(filter: *const Region) -> f64;
    pub fn u_poll_handle(handle: i64) -> *mut Region;
    pub fn u_free_handle(handle: i64) -> u32;
    pub fn u_write_event(timestamp: *const Region, value: *const Region, tags: *const Region) -> u32;
    pub fn u_writeback_ws(producer: i64, data: *const Region) -> u32;
    pub fn u_writeback_http(url: *const Region, body: *const Region, method: i32) -> *mut Region;
    // sluice extensions
    pub fn u_state_get(key: *const Region) -> *mut Region;
    pub fn u_state_set(key: *const Region, value: *const Region) -> u32;
    pub fn u_state_delete(key: *const Region) -> u32;
    pub fn u_log(message: *const Region) -> u32;
}

// The few WASI calls the host provides.
#[link(wasm_import_module = "wasi_snapshot_preview1")]
extern "C" {
    pub fn clock_time_get(clock_id: u32, precision: u64, time: *mut u64) -> u32;
    pub fn environ_sizes_get(count: *mut u32, buffer_size: *mut u32) -> u32;
    pub fn environ_get(pointers: *mut *const u8, buffer: *mut u8) -> u32;
    pub fn proc_exit(code: u32);
}
