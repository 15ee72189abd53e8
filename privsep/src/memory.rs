//! Returning freed memory to the kernel. Used by the validator and the rtr
//! worker after a snapshot has been replaced, so that the memory of the
//! old one does not stay resident.
//!
//! glibc's allocator keeps the pages of freed large allocations that lie
//! inside its heap; after swapping an 800,000-VRP snapshot that is tens of
//! megabytes. Elsewhere this does nothing.

/// Give memory the allocator holds but does not use back to the kernel.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointers and only works on the
    // allocator's own free lists; it is safe to call at any time.
    unsafe {
        libc::malloc_trim(0);
    }
}
