//! Recycled frame buffers. A frame's bytes (`RawFrame::data`) are written into a buffer taken
//! from a [`FramePool`] and frozen into [`Bytes`]; when the last reference drops (the capture
//! slot, every encoder and the MJPEG path are done with it) the buffer goes back to the pool
//! instead of to the allocator.
//!
//! Why: a 1080p frame is 3–4 MB and capture makes 30 a second. Freed to glibc's malloc,
//! those frame-sized chunks sit in per-thread arenas (the capture thread allocates, an encode
//! thread frees) and fragment them: 20+ MB of RSS that is never returned. Allocated with
//! `mmap` instead (a fixed `M_MMAP_THRESHOLD`) they are returned at once, but every frame then
//! faults in fresh zeroed pages (measured: +5 % of a core at 1080p). Reusing the same few
//! buffers costs neither.

use bytes::Bytes;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex};

/// Allocations of this size or more get a mapping of their own (glibc's `M_MMAP_THRESHOLD`).
pub const MMAP_THRESHOLD: i32 = 1 << 20;

/// Sets glibc's `M_MMAP_THRESHOLD` to [`MMAP_THRESHOLD`] (unless `MALLOC_MMAP_THRESHOLD_` is
/// set), which also stops glibc from raising it each time such a block is freed. The big
/// blocks left once frames are pooled are OpenH264's picture buffers (27 MB at 1080p, some
/// of it never touched): in a mapping of their own only the touched pages count, and an
/// encoder re-created at a new size gives the old ones back. Measured at 1080p with 4
/// viewers: peak RSS 66 MiB → 47–50 MiB, CPU unchanged (frames no longer fault in fresh pages:
/// they come from the pool).
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_MMAP_THRESHOLD_").is_none() {
        // SAFETY: mallopt only sets a malloc parameter; called once at start.
        #[allow(unsafe_code)]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        }
    }
}

/// Gives the heap's free memory back to the kernel (glibc's `malloc_trim`): freed blocks
/// under [`MMAP_THRESHOLD`] stay in its arenas for reuse otherwise. For after a big release
/// (an idle encoder's pictures: ~5 MiB more come back at 1080p), not for a hot path: it
/// walks every arena. Elsewhere than glibc: nothing.
pub fn trim_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim takes no pointer; it only walks glibc's own arenas.
    #[allow(unsafe_code)]
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Buffers a pool keeps for reuse; more are freed. A frame is held by the capture slot, the
/// encoders' queues and the MJPEG path at once, so a few are in flight.
pub const KEEP: usize = 6;

/// A set of reusable byte buffers (share it with `Arc`).
#[derive(Debug, Default)]
pub struct FramePool {
    free: Mutex<Vec<Vec<u8>>>,
}

impl FramePool {
    /// An empty pool.
    pub fn new() -> Arc<FramePool> {
        Arc::new(FramePool::default())
    }

    /// An empty buffer (length 0) with room for at least `capacity` bytes: a recycled one when
    /// there is one, else a new one.
    pub fn take(self: &Arc<Self>, capacity: usize) -> PooledBuf {
        let recycled = self.free.lock().ok().and_then(|mut free| free.pop());
        let mut buf = recycled.unwrap_or_default();
        buf.clear();
        buf.reserve(capacity);
        PooledBuf {
            buf,
            pool: Arc::clone(self),
        }
    }

    /// `src` copied into a pooled buffer, frozen.
    pub fn copy(self: &Arc<Self>, src: &[u8]) -> Bytes {
        let mut buf = self.take(src.len());
        buf.extend_from_slice(src);
        buf.freeze()
    }

    /// Buffers waiting for reuse.
    pub fn idle(&self) -> usize {
        self.free.lock().map_or(0, |f| f.len())
    }
}

/// A buffer from a [`FramePool`]; back to the pool when dropped (also as the owner inside the
/// [`Bytes`] that [`PooledBuf::freeze`] makes).
#[derive(Debug)]
pub struct PooledBuf {
    buf: Vec<u8>,
    pool: Arc<FramePool>,
}

impl PooledBuf {
    /// Immutable, shareable bytes; the buffer returns to its pool when the last clone drops.
    pub fn freeze(self) -> Bytes {
        Bytes::from_owner(self)
    }
}

impl Deref for PooledBuf {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.buf
    }
}

impl DerefMut for PooledBuf {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }
}

impl AsRef<[u8]> for PooledBuf {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for PooledBuf {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if let Ok(mut free) = self.pool.free.lock() {
            if free.len() < KEEP {
                free.push(buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frozen_buffer_returns_to_its_pool_when_the_last_reference_drops() {
        let pool = FramePool::new();
        let a = pool.copy(&[1, 2, 3]);
        let ptr = a.as_ptr();
        let b = a.clone();
        drop(a);
        assert_eq!(pool.idle(), 0, "a clone still holds it");
        assert_eq!(&b[..], &[1, 2, 3]);
        drop(b);
        assert_eq!(pool.idle(), 1);
        // The next frame reuses the same memory, emptied first.
        let mut c = pool.take(2);
        assert!(c.is_empty());
        c.extend_from_slice(&[9, 9]);
        let c = c.freeze();
        assert_eq!(c.as_ptr(), ptr);
        assert_eq!(&c[..], &[9, 9]);
        assert_eq!(pool.idle(), 0);
    }

    #[test]
    fn the_pool_keeps_at_most_keep_buffers() {
        let pool = FramePool::new();
        let held: Vec<Bytes> = (0..KEEP + 3).map(|i| pool.copy(&[i as u8; 16])).collect();
        drop(held);
        assert_eq!(pool.idle(), KEEP);
    }
}
