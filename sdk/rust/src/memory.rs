//! The allocator exports and Regions: `{ offset: u32, capacity: u32, length: u32 }`.

use std::alloc::{alloc, dealloc, Layout};

#[repr(C)]
pub struct Region {
    offset: u32,
    capacity: u32,
    length: u32,
}

impl Region {
    /// Describes bytes the guest lends the host for the duration of one call.
    pub fn borrow(bytes: &[u8]) -> Region {
        let length = bytes.len() as u32;
        Region { offset: bytes.as_ptr() as u32, capacity: length, length }
    }
}

// `deallocate` takes only the pointer (the seed's signature), so every block remembers its size
// in a header; 8 bytes keep the returned pointer 8-aligned.
const HEADER: usize = 8;

fn layout_for(len: usize) -> Option<Layout> {
    Layout::from_size_align(len.checked_add(HEADER)?, HEADER).ok()
}

/// The `allocate` export: `len` fresh bytes, null when memory is exhausted.
#[no_mangle]
pub extern "C" fn allocate(len: usize) -> *mut u8 {
    let layout = match layout_for(len) {
        Some(layout) => layout,
        None => return core::ptr::null_mut(),
    };
    unsafe {
        let block = alloc(layout);
        if block.is_null() {
            return block;
        }
        (block as *mut usize).write(len);
        block.add(HEADER)
    }
}

/// The `deallocate` export: frees what `allocate` returned.
#[no_mangle]
pub unsafe extern "C" fn deallocate(ptr: *mut u8) {
    if ptr.is_null() {
        return;
    }
    let block = ptr.sub(HEADER);
    let len = (block as *const usize).read();
    if let Some(layout) = layout_for(len) {
        dealloc(block, layout);
    }
}

/// Copies a host-made region's bytes, then frees both blocks (data first, then the region).
pub unsafe fn take_bytes(region: *mut Region) -> Vec<u8> {
    let Region { offset, length, .. } = region.read();
    let data = offset as usize as *mut u8;
    let bytes = if length == 0 { Vec::new() } else { core::slice::from_raw_parts(data, length as usize).to_vec() };
    deallocate(data);
    deallocate(region as *mut u8);
    bytes
}
