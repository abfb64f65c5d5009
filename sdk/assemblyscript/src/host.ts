// Raw imports of the sluice workflow ABI (docs/sdk.md, "The ABI"). Pointers are Region pointers.
// Handles and producer ids are i64, as in the seed's signatures.

@external("env", "u_query_live")
export declare function u_query_live(filter: usize): i64;
@external("env", "u_query_history")
export declare function u_query_history(filter: usize): f64;
@external("env", "u_poll_handle")
export declare function u_poll_handle(handle: i64): usize;
@external("env", "u_free_handle")
export declare function u_free_handle(handle: i64): i32;
@external("env", "u_write_event")
export declare function u_write_event(timestamp: usize, value: usize, tags: usize): i32;
@external("env", "u_writeback_ws")
export declare function u_writeback_ws(producer: i64, data: usize): i32;
@external("env", "u_writeback_http")
export declare function u_writeback_http(url: usize, body: usize, method: i32): usize;

// sluice extensions
@external("env", "u_state_get")
export declare function u_state_get(key: usize): usize;
@external("env", "u_state_set")
export declare function u_state_set(key: usize, value: usize): i32;
@external("env", "u_state_delete")
export declare function u_state_delete(key: usize): i32;
@external("env", "u_log")
export declare function u_log(message: usize): i32;

// The few WASI calls the host provides.
@external("wasi_snapshot_preview1", "clock_time_get")
export declare function clock_time_get(clockId: u32, precision: u64, timeOut: usize): i32;
@external("wasi_snapshot_preview1", "environ_sizes_get")
export declare function environ_sizes_get(countOut: usize, bufSizeOut: usize): i32;
@external("wasi_snapshot_preview1", "environ_get")
export declare function environ_get(pointersOut: usize, bufOut: usize): i32;
@external("wasi_snapshot_preview1", "proc_exit")
export declare function proc_exit(code: u32): void;
