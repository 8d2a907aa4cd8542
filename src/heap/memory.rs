//! Reading the target's memory: live (`process_vm_readv` per read), or from a bulk copy of its
//! writable mappings taken while it was paused. Everything read is untrusted: readers return
//! `None` for anything unreadable, and callers bound every length before allocating.

use std::cell::{Cell, UnsafeCell};
use std::collections::HashMap;
use std::io::IoSliceMut;

use nix::sys::uio::{RemoteIoVec, process_vm_readv};
use nix::unistd::Pid;

/// A source of target memory.
pub trait Memory {
    /// Fill `buf` from `addr`; false if any byte is unreadable.
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool;

    /// Hint that `addr` will be read soon (a copy can prefetch it into the CPU cache).
    #[inline]
    fn prefetch(&self, _addr: u64) {}

    /// The address ranges `(start, len)` this memory holds locally (a copy's regions).
    fn local_ranges(&self) -> Vec<(u64, u64)> {
        Vec::new()
    }

    /// A little-endian u64 (the walk's most common read; implementations may make it fast).
    #[inline]
    fn word(&self, addr: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b).then(|| u64::from_le_bytes(b))
    }
}

/// Addresses at or above this are not user-space memory on x86-64 (47 bits; a margin kept):
/// pointers read from the target that point there are garbage.
pub const MAX_ADDR: u64 = 1 << 56;

/// Largest single read the helpers will allocate for (names, small arrays).
pub const MAX_READ: usize = 64 << 20;

/// Typed reads over any [`Memory`].
pub trait MemoryExt: Memory {
    #[inline]
    fn u64_at(&self, addr: u64) -> Option<u64> {
        self.word(addr)
    }
    #[inline]
    fn i64_at(&self, addr: u64) -> Option<i64> {
        self.u64_at(addr).map(|v| v as i64)
    }
    #[inline]
    fn u32_at(&self, addr: u64) -> Option<u32> {
        // one aligned word read where possible (the common case), else a 4-byte read
        if addr % 8 <= 4 {
            return self
                .word(addr - addr % 8)
                .map(|w| (w >> ((addr % 8) * 8)) as u32);
        }
        let mut b = [0u8; 4];
        self.read(addr, &mut b).then(|| u32::from_le_bytes(b))
    }
    #[inline]
    fn u8_at(&self, addr: u64) -> Option<u8> {
        let mut b = [0u8; 1];
        self.read(addr, &mut b).then_some(b[0])
    }
    /// A pointer: non-null and 8-aligned, or `None`.
    #[inline]
    fn ptr_at(&self, addr: u64) -> Option<u64> {
        self.u64_at(addr)
            .filter(|&p| p != 0 && p.is_multiple_of(8) && p < MAX_ADDR)
    }
    /// `len` bytes (refused above [`MAX_READ`]).
    fn bytes_at(&self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if len > MAX_READ {
            return None;
        }
        let mut v = vec![0u8; len];
        self.read(addr, &mut v).then_some(v)
    }
    /// A NUL-terminated C string of at most `max` bytes.
    fn cstr_at(&self, addr: u64, max: usize) -> Option<String> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 64];
        while out.len() < max {
            let n = chunk.len().min(max - out.len());
            // a short read at the end of a mapping: fall back to byte reads
            if !self.read(addr + out.len() as u64, &mut chunk[..n]) {
                let b = self.u8_at(addr + out.len() as u64)?;
                if b == 0 {
                    break;
                }
                out.push(b);
                continue;
            }
            if let Some(z) = chunk[..n].iter().position(|&b| b == 0) {
                out.extend_from_slice(&chunk[..z]);
                return Some(String::from_utf8_lossy(&out).into_owned());
            }
            out.extend_from_slice(&chunk[..n]);
        }
        Some(String::from_utf8_lossy(&out).into_owned())
    }
}

impl<M: Memory + ?Sized> MemoryExt for M {}

/// Read an array of `n` elements of `size` bytes at `at`, handing each element's bytes to
/// `f`, in bounded chunks. A count read from the target is only trusted as far as the memory
/// goes: the array's last element is probed first, and reading stops at the first chunk that
/// cannot be read, so a damaged header costs a couple of failed reads, not one per element.
/// Returns false if the array was not (wholly) readable.
pub fn read_array<M: Memory + ?Sized>(
    m: &M,
    at: u64,
    n: u64,
    size: u64,
    mut f: impl FnMut(&[u8]),
) -> bool {
    if n == 0 || size == 0 {
        return true;
    }
    let Some(total) = n.checked_mul(size) else {
        return false;
    };
    let Some(last) = at.checked_add(total - size) else {
        return false;
    };
    let mut probe = [0u8; 8];
    if !m.read(last, &mut probe[..size.min(8) as usize]) {
        return false;
    }
    const CHUNK: u64 = 64 << 10;
    let per = (CHUNK / size).max(1);
    let mut buf = vec![0u8; (per.min(n) * size) as usize];
    let mut i = 0;
    while i < n {
        let k = per.min(n - i);
        let b = &mut buf[..(k * size) as usize];
        if !m.read(at + i * size, b) {
            return false;
        }
        for e in b.chunks_exact(size as usize) {
            f(e);
        }
        i += k;
    }
    true
}

/// Direct reads of a live process.
pub struct LiveMemory {
    pid: Pid,
}

impl LiveMemory {
    pub fn new(pid: i32) -> LiveMemory {
        LiveMemory {
            pid: Pid::from_raw(pid),
        }
    }
}

impl Memory for LiveMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        if buf.is_empty() {
            return true;
        }
        let len = buf.len();
        let remote = [RemoteIoVec {
            base: addr as usize,
            len,
        }];
        let mut local = [IoSliceMut::new(buf)];
        matches!(process_vm_readv(self.pid, &mut local, &remote), Ok(n) if n == len)
    }
}

impl LiveMemory {
    /// The words at `addrs`, in as few `process_vm_readv` calls as the kernel allows: one per
    /// [`WORDS_PER_CALL`] words, plus one more after each unreadable word (the kernel stops a
    /// read at the first remote range that fails).
    pub fn words(&self, addrs: &[u64]) -> Vec<Option<u64>> {
        let mut out = vec![None; addrs.len()];
        let mut i = 0;
        while i < addrs.len() {
            let end = (i + WORDS_PER_CALL).min(addrs.len());
            let mut buf = vec![0u8; (end - i) * 8];
            let remote: Vec<RemoteIoVec> = addrs[i..end]
                .iter()
                .map(|&a| RemoteIoVec {
                    base: a as usize,
                    len: 8,
                })
                .collect();
            let got = {
                let mut local = [IoSliceMut::new(&mut buf)];
                match process_vm_readv(self.pid, &mut local, &remote) {
                    Ok(n) => n,
                    // gone: nothing more to read
                    Err(nix::errno::Errno::ESRCH) => return out,
                    Err(_) => 0,
                }
            };
            let whole = got / 8;
            for (k, w) in buf.chunks_exact(8).take(whole).enumerate() {
                out[i + k] = w.try_into().ok().map(u64::from_le_bytes);
            }
            // the word after the last one read failed (or nothing could be read): skip it
            i += whole + usize::from(i + whole < end);
        }
        out
    }
}

/// Remote ranges per `process_vm_readv` call (the kernel's limit is `IOV_MAX`, 1024).
const WORDS_PER_CALL: usize = 512;

/// The unit in which a copy is made, read lazily and learned from one census to the next:
/// 64 KiB, aligned in the target's address space (chunk number = address >> CHUNK_SHIFT).
pub const CHUNK_SHIFT: u32 = 16;
pub const CHUNK: u64 = 1 << CHUNK_SHIFT;

/// A bitmap of a region's chunks, changed through `&self` (a copy is read by one thread).
#[derive(Default)]
pub struct ChunkBits(Vec<Cell<u64>>);

impl ChunkBits {
    fn new(n: usize, set: bool) -> ChunkBits {
        let word = if set { u64::MAX } else { 0 };
        ChunkBits((0..n.div_ceil(64)).map(|_| Cell::new(word)).collect())
    }
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.0
            .get(i / 64)
            .is_some_and(|w| w.get() & (1 << (i % 64)) != 0)
    }
    #[inline]
    pub fn set(&self, i: usize) {
        if let Some(w) = self.0.get(i / 64) {
            let v = w.get();
            let bit = 1 << (i % 64);
            if v & bit == 0 {
                w.set(v | bit);
            }
        }
    }
}

/// One mapping of the target, copied whole or in part: the chunks marked `valid` hold the
/// target's bytes; the others are read from the live target the first time they are needed
/// (if the copy may), or not at all.
pub struct Region {
    pub start: u64,
    pub len: u64,
    /// At least `len` bytes. Written through `&self` only by [`HeapCopy`]'s lazy reads, with
    /// no borrow of it alive.
    data: UnsafeCell<RegionData>,
    /// Chunks holding the target's bytes.
    valid: ChunkBits,
    /// Chunks a live read failed on (not tried again).
    failed: ChunkBits,
    /// Chunks the walk read: what the next census copies while the target is paused.
    touched: ChunkBits,
}

impl Region {
    /// A region whose every byte is copied.
    pub fn whole(start: u64, data: RegionData) -> Region {
        let len = data.len() as u64;
        Region::new(start, len, data, true)
    }

    /// A region of `len` bytes over `data`, wholly valid or not at all (see [`Region::mark_valid`]).
    pub fn new(start: u64, len: u64, data: RegionData, valid: bool) -> Region {
        let len = len.min(data.len() as u64);
        let n = Region::chunks_of(start, len);
        Region {
            start,
            len,
            data: UnsafeCell::new(data),
            valid: ChunkBits::new(n, valid),
            failed: ChunkBits::new(n, false),
            touched: ChunkBits::new(n, false),
        }
    }

    fn chunks_of(start: u64, len: u64) -> usize {
        if len == 0 {
            return 0;
        }
        (((start + len - 1) >> CHUNK_SHIFT) - (start >> CHUNK_SHIFT) + 1) as usize
    }

    /// Index of the chunk holding `addr` (which must be inside the region).
    #[inline]
    fn chunk(&self, addr: u64) -> usize {
        ((addr >> CHUNK_SHIFT) - (self.start >> CHUNK_SHIFT)) as usize
    }

    /// The bytes of chunk `i` within the region, as (offset, length).
    fn chunk_span(&self, i: usize) -> (u64, u64) {
        let lo = (((self.start >> CHUNK_SHIFT) + i as u64) << CHUNK_SHIFT).max(self.start);
        let hi = (lo | (CHUNK - 1))
            .saturating_add(1)
            .min(self.start + self.len);
        (lo - self.start, hi - lo)
    }

    /// Mark the bytes `[addr, addr + len)` as copied (every chunk they cover wholly or not).
    pub fn mark_valid(&self, addr: u64, len: u64) {
        if len == 0 || addr < self.start || addr + len > self.start + self.len {
            return;
        }
        for i in self.chunk(addr)..=self.chunk(addr + len - 1) {
            self.valid.set(i);
        }
    }

    #[inline]
    fn bytes(&self) -> &[u8] {
        // SAFETY: the only writes are HeapCopy::load, through a &mut made and dropped while
        // no slice of the data is alive (the copy is not Sync: one thread reads it)
        let all = unsafe { &*self.data.get() }.bytes();
        &all[..(self.len as usize).min(all.len())]
    }

    /// The buffer, mutable (for the copy made into it).
    pub fn data_mut(&mut self) -> &mut [u8] {
        let len = self.len as usize;
        let all = self.data.get_mut().bytes_mut();
        let end = len.min(all.len());
        &mut all[..end]
    }

    /// The buffer, given back (for it to be used again).
    pub fn into_data(self) -> RegionData {
        self.data.into_inner()
    }

    /// Chunk numbers (address >> CHUNK_SHIFT) the walk read.
    pub fn touched_chunks(&self) -> impl Iterator<Item = u64> + '_ {
        let first = self.start >> CHUNK_SHIFT;
        (0..Region::chunks_of(self.start, self.len))
            .filter(|&i| self.touched.get(i))
            .map(move |i| first + i as u64)
    }

    /// Runs of chunks that hold no copy, as (offset, length) within the buffer.
    pub fn invalid_spans(&self) -> Vec<(u64, u64)> {
        self.spans(false)
    }

    /// Runs of chunks that hold the copy, as (offset, length) within the buffer.
    pub fn valid_spans(&self) -> Vec<(u64, u64)> {
        self.spans(true)
    }

    fn spans(&self, valid: bool) -> Vec<(u64, u64)> {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for i in 0..Region::chunks_of(self.start, self.len) {
            if self.valid.get(i) != valid {
                continue;
            }
            let (off, len) = self.chunk_span(i);
            match out.last_mut() {
                Some(last) if last.0 + last.1 == off => last.1 += len,
                _ => out.push((off, len)),
            }
        }
        out
    }
}

/// Where a region's bytes are kept.
pub enum RegionData {
    Vec(Vec<u8>),
    Map(memmap2::MmapMut),
}

impl RegionData {
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        match self {
            RegionData::Vec(v) => v,
            RegionData::Map(m) => m,
        }
    }
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        match self {
            RegionData::Vec(v) => v,
            RegionData::Map(m) => m,
        }
    }
    pub fn len(&self) -> usize {
        self.bytes().len()
    }
    pub fn is_empty(&self) -> bool {
        self.bytes().is_empty()
    }
}

/// A copy of some of the target's memory, with an optional live fallback for addresses
/// outside it, and optionally the live target to fill the chunks of its regions that were not
/// copied during the pause, when the walk first needs them ("late" chunks: read while the
/// target runs, so they may disagree with the rest; counted, and learned for the next copy).
pub struct HeapCopy {
    /// Sorted by start, not overlapping.
    regions: Vec<Region>,
    fallback: Option<Box<dyn Memory + Send + Sync>>,
    /// The target, for late chunks.
    lazy: Option<Pid>,
    /// Reads answered by the fallback (for the census statistics).
    pub fallback_reads: Cell<u64>,
    /// Bytes of late chunks read.
    pub late_bytes: Cell<u64>,
    /// The region of the last read: walks read near where they read last.
    last: Cell<usize>,
    /// A chunk number of region `last` known copied and marked read: reads inside it skip the
    /// chunk bookkeeping (the walk's hot path). `u64::MAX`: none.
    hot: Cell<u64>,
}

impl HeapCopy {
    pub fn new(mut regions: Vec<Region>, fallback: Option<Box<dyn Memory + Send + Sync>>) -> Self {
        regions.sort_by_key(|r| r.start);
        regions.dedup_by(|b, a| b.start < a.start + a.len);
        HeapCopy {
            regions,
            fallback,
            lazy: None,
            fallback_reads: Cell::new(0),
            late_bytes: Cell::new(0),
            last: Cell::new(0),
            hot: Cell::new(u64::MAX),
        }
    }

    /// Fill chunks that were not copied from the live process `pid` when they are read.
    pub fn with_late_reads(mut self, pid: i32) -> Self {
        self.lazy = Some(Pid::from_raw(pid));
        self
    }

    /// Bytes the regions span (copied or not).
    pub fn bytes(&self) -> u64 {
        self.regions.iter().map(|r| r.len).sum()
    }

    /// The copy's regions, given back (for their buffers to be used again).
    pub fn into_regions(self) -> Vec<Region> {
        self.regions
    }

    pub fn regions(&self) -> &[Region] {
        &self.regions
    }

    #[inline]
    fn region(&self, addr: u64) -> Option<&Region> {
        if let Some(r) = self.regions.get(self.last.get())
            && addr >= r.start
            && addr < r.start + r.len
        {
            return Some(r);
        }
        let i = self
            .regions
            .partition_point(|r| r.start <= addr)
            .checked_sub(1)?;
        let r = self.regions.get(i)?;
        if addr < r.start + r.len {
            if i != self.last.get() {
                // the hot chunk belongs to the last region
                self.hot.set(u64::MAX);
                self.last.set(i);
            }
            Some(r)
        } else {
            None
        }
    }

    /// Make chunk `i` of `r` readable: true if it holds the target's bytes.
    #[inline]
    fn ready(&self, r: &Region, i: usize) -> bool {
        if r.valid.get(i) {
            r.touched.set(i);
            return true;
        }
        self.load(r, i)
    }

    #[cold]
    fn load(&self, r: &Region, i: usize) -> bool {
        let Some(pid) = self.lazy else {
            return false;
        };
        if r.failed.get(i) {
            return false;
        }
        let (off, len) = r.chunk_span(i);
        // SAFETY: no slice of this region's data is alive here (see Region::bytes); the
        // mutable borrow ends with this block
        let got = unsafe {
            let data = (*r.data.get()).bytes_mut();
            let Some(dst) = data.get_mut(off as usize..(off + len) as usize) else {
                return false;
            };
            let remote = [RemoteIoVec {
                base: (r.start + off) as usize,
                len: len as usize,
            }];
            let mut local = [IoSliceMut::new(dst)];
            process_vm_readv(pid, &mut local, &remote)
        };
        if matches!(got, Ok(n) if n as u64 == len) {
            r.valid.set(i);
            r.touched.set(i);
            self.late_bytes.set(self.late_bytes.get() + len);
            true
        } else {
            r.failed.set(i);
            false
        }
    }
}

impl Memory for HeapCopy {
    #[inline]
    fn prefetch(&self, addr: u64) {
        if let Some(r) = self.region(addr)
            && r.valid.get(r.chunk(addr))
        {
            let off = (addr - r.start) as usize;
            if let Some(b) = r.bytes().get(off..) {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: prefetching is a hint; the pointer is inside a live slice
                unsafe {
                    core::arch::x86_64::_mm_prefetch(
                        b.as_ptr() as *const i8,
                        core::arch::x86_64::_MM_HINT_T0,
                    );
                }
                #[cfg(not(target_arch = "x86_64"))]
                let _ = b;
            }
        }
    }

    /// The parts copied so far (not what may be read late: a region can span gigabytes of
    /// array data, and indexes sized by these ranges must not).
    fn local_ranges(&self) -> Vec<(u64, u64)> {
        self.regions
            .iter()
            .flat_map(|r| {
                r.valid_spans()
                    .into_iter()
                    .map(move |(off, len)| (r.start + off, len))
            })
            .collect()
    }

    #[inline]
    fn word(&self, addr: u64) -> Option<u64> {
        // a word across two chunks takes the general path
        let inside = addr % CHUNK <= CHUNK - 8;
        if inside
            && addr >> CHUNK_SHIFT == self.hot.get()
            && let Some(r) = self.regions.get(self.last.get())
            && let Some(off) = addr.checked_sub(r.start)
            && let Some(b) = r.bytes().get(off as usize..(off as usize).wrapping_add(8))
        {
            return Some(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
        }
        if let Some(r) = self.region(addr) {
            let i = r.chunk(addr);
            if inside && self.ready(r, i) {
                let off = (addr - r.start) as usize;
                if let Some(b) = r.bytes().get(off..off.wrapping_add(8)) {
                    self.hot.set(addr >> CHUNK_SHIFT);
                    return Some(u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
                }
            }
        }
        let mut b = [0u8; 8];
        self.read(addr, &mut b).then(|| u64::from_le_bytes(b))
    }

    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        if buf.is_empty() {
            return true;
        }
        if let Some(r) = self.region(addr) {
            let end = addr.saturating_add(buf.len() as u64);
            if end <= r.start + r.len {
                if !(r.chunk(addr)..=r.chunk(end - 1)).all(|i| self.ready(r, i)) {
                    return false;
                }
                let off = (addr - r.start) as usize;
                if let Some(src) = r.bytes().get(off..off + buf.len()) {
                    buf.copy_from_slice(src);
                    return true;
                }
            }
        }
        match &self.fallback {
            Some(f) => {
                self.fallback_reads.set(self.fallback_reads.get() + 1);
                f.read(addr, buf)
            }
            None => false,
        }
    }
}

/// A fake address space for tests and fuzzing: pages keyed by address.
#[derive(Default)]
pub struct FakeMemory {
    pub bytes: HashMap<u64, u8>,
}

impl FakeMemory {
    pub fn put(&mut self, addr: u64, data: &[u8]) {
        for (i, b) in data.iter().enumerate() {
            self.bytes.insert(addr + i as u64, *b);
        }
    }
    pub fn put_u64(&mut self, addr: u64, v: u64) {
        self.put(addr, &v.to_le_bytes());
    }
}

impl Memory for FakeMemory {
    fn read(&self, addr: u64, buf: &mut [u8]) -> bool {
        for (i, b) in buf.iter_mut().enumerate() {
            match self.bytes.get(&(addr.wrapping_add(i as u64))) {
                Some(v) => *b = *v,
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_reads_inside_regions_only() {
        let copy = HeapCopy::new(
            vec![
                Region::whole(0x2000, RegionData::Vec(vec![2; 0x1000])),
                Region::whole(
                    0x1000,
                    RegionData::Vec((0..0x1000u32).map(|i| i as u8).collect()),
                ),
            ],
            None,
        );
        assert_eq!(copy.u8_at(0x1003), Some(3));
        assert_eq!(copy.u8_at(0x2fff), Some(2));
        assert_eq!(copy.u8_at(0x3000), None);
        assert_eq!(copy.u8_at(0xfff), None);
        // a read across two regions is refused rather than stitched
        let mut b = [0u8; 16];
        assert!(!copy.read(0x1ff8, &mut b));
        assert_eq!(copy.bytes(), 0x2000);
    }

    #[test]
    fn live_reads_of_our_own_memory() {
        let data: Vec<u8> = (0..100).collect();
        let m = LiveMemory::new(std::process::id() as i32);
        assert_eq!(
            m.bytes_at(data.as_ptr() as u64 + 10, 5).unwrap(),
            vec![10, 11, 12, 13, 14]
        );
        let s = b"hello\0world";
        assert_eq!(m.cstr_at(s.as_ptr() as u64, 100).unwrap(), "hello");
        assert_eq!(m.u64_at(8), None);
        assert!(m.bytes_at(0, MAX_READ + 1).is_none());
    }

    #[test]
    fn chunks_not_copied_are_read_late_once_and_learned() {
        // our own memory as the "target": three chunks, the middle one copied
        let data: Vec<u8> = (0..3 * CHUNK).map(|i| (i / 7) as u8).collect();
        let start = data.as_ptr() as u64;
        let region = Region::new(
            start,
            data.len() as u64,
            RegionData::Vec(vec![0xee; data.len()]),
            false,
        );
        let mid = ((start >> CHUNK_SHIFT) + 1) << CHUNK_SHIFT;
        let mid_len = CHUNK.min(start + data.len() as u64 - mid);
        region.mark_valid(mid, mid_len);
        let strict = HeapCopy::new(vec![region], None);
        // not copied, no late reads allowed: unreadable, not the buffer's stale bytes
        assert_eq!(strict.u8_at(start), None);
        assert_eq!(strict.u8_at(mid), Some(0xee));
        let region = strict.into_regions().pop().unwrap();
        let copy = HeapCopy::new(vec![region], None).with_late_reads(std::process::id() as i32);
        assert_eq!(
            copy.u8_at(mid),
            Some(0xee),
            "a copied chunk is not read again"
        );
        assert_eq!(copy.late_bytes.get(), 0);
        assert_eq!(copy.u8_at(start + 5), Some(0));
        let late = copy.late_bytes.get();
        assert!(late > 0 && late <= CHUNK, "{late}");
        // a read across the last two chunks loads the last one
        let end = start + data.len() as u64;
        let mut b = [0u8; 16];
        assert!(copy.read(end - 16, &mut b));
        assert_eq!(b[15], data[data.len() - 1]);
        assert_eq!(copy.u8_at(end), None, "past the region");
        let touched: Vec<u64> = copy.regions()[0].touched_chunks().collect();
        let first = start >> CHUNK_SHIFT;
        assert!(touched.contains(&first) && touched.contains(&((end - 1) >> CHUNK_SHIFT)));
        let uncopied: u64 = copy.regions()[0].invalid_spans().iter().map(|s| s.1).sum();
        assert!(uncopied < data.len() as u64 - mid_len, "{uncopied}");
    }

    #[test]
    fn a_late_read_of_unmapped_memory_fails_once() {
        // a region over an address range that is not mapped in our process
        let start = 0x10_0000_0000u64 - 3 * CHUNK;
        let region = Region::new(
            start,
            2 * CHUNK,
            RegionData::Vec(vec![0; 2 * CHUNK as usize]),
            false,
        );
        let copy = HeapCopy::new(vec![region], None).with_late_reads(std::process::id() as i32);
        assert_eq!(copy.u64_at(start + 64), None);
        assert_eq!(copy.u64_at(start + 72), None);
        assert_eq!(copy.late_bytes.get(), 0);
        assert_eq!(copy.regions()[0].touched_chunks().count(), 0);
    }
}
