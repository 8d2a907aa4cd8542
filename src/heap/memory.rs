//! Reading the target's memory: live (`process_vm_readv` per read), or from a bulk copy of its
//! writable mappings taken while it was paused. Everything read is untrusted: readers return
//! `None` for anything unreadable, and callers bound every length before allocating.

use std::borrow::Borrow;
use std::cell::Cell;
use std::collections::HashMap;
use std::io::IoSliceMut;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

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

    /// The address ranges `(start, len)` objects may be read from through this memory's own
    /// buffers, copied or to be read late (a copy's regions whole): what an index that costs
    /// memory only where it is written may be sized by.
    fn region_ranges(&self) -> Vec<(u64, u64)> {
        self.local_ranges()
    }

    /// The copy this memory reads, if it is one that threads can share (a parallel walk).
    fn shared_copy(&self) -> Option<&CopyData> {
        None
    }

    /// Give back the memory of what was copied and not read since (by the walk: memory of
    /// the target that holds no objects), before the object graph is built beside the copy:
    /// a later read there reads the target then (late). Bytes given back. Only while no
    /// other thread reads this memory.
    fn give_back_unread(&self) -> u64 {
        0
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

/// A bitmap of a region's chunks, changed through `&self` (threads of one walk share a copy).
#[derive(Default)]
pub struct ChunkBits(Vec<AtomicU64>);

impl ChunkBits {
    fn new(n: usize, set: bool) -> ChunkBits {
        let word = if set { u64::MAX } else { 0 };
        ChunkBits((0..n.div_ceil(64)).map(|_| AtomicU64::new(word)).collect())
    }
    /// Acquire: a chunk seen valid was written wholly before its bit was set.
    #[inline]
    pub fn get(&self, i: usize) -> bool {
        self.0
            .get(i / 64)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (i % 64)) != 0)
    }
    #[inline]
    pub fn set(&self, i: usize) {
        if let Some(w) = self.0.get(i / 64) {
            let bit = 1 << (i % 64);
            if w.load(Ordering::Relaxed) & bit == 0 {
                w.fetch_or(bit, Ordering::Release);
            }
        }
    }
    pub fn clear(&self, i: usize) {
        if let Some(w) = self.0.get(i / 64) {
            w.fetch_and(!(1 << (i % 64)), Ordering::Release);
        }
    }
}

/// One mapping of the target, copied whole or in part: the chunks marked `valid` hold the
/// target's bytes; the others are read from the live target the first time they are needed
/// (if the copy may), or not at all.
pub struct Region {
    pub start: u64,
    pub len: u64,
    /// At least `len` bytes; read and written only through `base` once the region is made.
    data: RegionData,
    /// `data`'s bytes, taken once (exclusively) when the region was made: the late loads of
    /// [`HeapCopy`] write a chunk through it while other threads read other, valid chunks
    /// (never a reference over the whole buffer, which would alias those writes).
    base: *mut u8,
    /// Chunks holding the target's bytes (set only after they were written).
    valid: ChunkBits,
    /// Chunks a live read failed on (not tried again).
    failed: ChunkBits,
    /// Chunks the walk read: what the next census copies while the target is paused.
    touched: ChunkBits,
}

// SAFETY: `base` points into `data`, which the region owns and which does not move with it
// (a heap or mmap buffer); a chunk's bytes are written only while it is not valid, under the
// copy's load lock (or through `&mut self`), and read only once valid.
unsafe impl Send for Region {}
unsafe impl Sync for Region {}

impl Region {
    /// A region whose every byte is copied.
    pub fn whole(start: u64, data: RegionData) -> Region {
        let len = data.len() as u64;
        Region::new(start, len, data, true)
    }

    /// A region of `len` bytes over `data`, wholly valid or not at all (see [`Region::mark_valid`]).
    pub fn new(start: u64, len: u64, mut data: RegionData, valid: bool) -> Region {
        let len = len.min(data.len() as u64);
        let n = Region::chunks_of(start, len);
        let base = data.bytes_mut().as_mut_ptr();
        Region {
            start,
            len,
            data,
            base,
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

    /// Copy `buf.len()` bytes at offset `off` out of the buffer. The caller made sure they
    /// lie in valid chunks.
    #[inline]
    fn copy_out(&self, off: u64, buf: &mut [u8]) -> bool {
        let Some(end) = off.checked_add(buf.len() as u64) else {
            return false;
        };
        if end > self.len {
            return false;
        }
        // SAFETY: inside the buffer (len <= data.len()); valid chunks are not written
        unsafe {
            std::ptr::copy_nonoverlapping(self.base.add(off as usize), buf.as_mut_ptr(), buf.len())
        };
        true
    }

    /// The word at offset `off` (in a valid chunk, checked by the caller).
    #[inline]
    fn word_at(&self, off: u64) -> Option<u64> {
        if off.checked_add(8)? > self.len {
            return None;
        }
        // SAFETY: inside the buffer; valid chunks are not written
        Some(u64::from_le(unsafe {
            std::ptr::read_unaligned(self.base.add(off as usize) as *const u64)
        }))
    }

    /// The buffer, mutable (for the copy made into it).
    pub fn data_mut(&mut self) -> &mut [u8] {
        // SAFETY: `base` spans `len` bytes of the buffer, borrowed exclusively through `self`
        unsafe { std::slice::from_raw_parts_mut(self.base, self.len as usize) }
    }

    /// The buffer, given back (for it to be used again).
    pub fn into_data(self) -> RegionData {
        self.data
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
/// Shared by the threads of a walk, each through its own [`CopyView`].
pub struct CopyData {
    /// Sorted by start, not overlapping.
    regions: Vec<Region>,
    fallback: Option<Box<dyn Memory + Send + Sync>>,
    /// The target, for late chunks.
    lazy: Option<Pid>,
    /// Reads answered by the fallback (for the census statistics).
    fallback_reads: AtomicU64,
    /// Bytes of late chunks read.
    late_bytes: AtomicU64,
    /// Held while a late chunk is read into its buffer.
    loading: Mutex<()>,
}

/// A reader of a copy: the copy (owned, [`HeapCopy`], or borrowed by one thread of a walk,
/// [`CopyView`]) and that reader's caches of where it read last.
pub struct CopyReader<D> {
    data: D,
    /// The region of the last read: walks read near where they read last.
    last: Cell<usize>,
    /// The chunk read last, known copied and marked read: its first address, the address of
    /// its bytes in the buffer (exposed provenance: a reader is sent between threads), and
    /// how many offsets from its start begin a whole word inside it (0: no chunk). Reads
    /// there are a subtraction, a comparison and a load (the walk's hot path: ~9 reads in
    /// 10 at 1M objects).
    hot_start: Cell<u64>,
    hot_at: Cell<usize>,
    hot_limit: Cell<u64>,
    /// Per megabyte of addresses (hashed), the region found there last.
    near: [Cell<u32>; NEAR],
}

/// Entries of a reader's cache of regions by megabyte.
const NEAR: usize = 256;

pub type HeapCopy = CopyReader<CopyData>;
pub type CopyView<'a> = CopyReader<&'a CopyData>;

impl<D> CopyReader<D> {
    fn over(data: D) -> Self {
        CopyReader {
            data,
            last: Cell::new(0),
            hot_start: Cell::new(0),
            hot_at: Cell::new(0),
            hot_limit: Cell::new(0),
            near: std::array::from_fn(|_| Cell::new(u32::MAX)),
        }
    }
}

impl HeapCopy {
    pub fn new(mut regions: Vec<Region>, fallback: Option<Box<dyn Memory + Send + Sync>>) -> Self {
        regions.sort_by_key(|r| r.start);
        regions.dedup_by(|b, a| b.start < a.start + a.len);
        CopyReader::over(CopyData {
            regions,
            fallback,
            lazy: None,
            fallback_reads: AtomicU64::new(0),
            late_bytes: AtomicU64::new(0),
            loading: Mutex::new(()),
        })
    }

    /// Fill chunks that were not copied from the live process `pid` when they are read.
    pub fn with_late_reads(mut self, pid: i32) -> Self {
        self.data.lazy = Some(Pid::from_raw(pid));
        self
    }

    /// The copy's regions, given back (for their buffers to be used again).
    pub fn into_regions(self) -> Vec<Region> {
        self.data.regions
    }
}

impl CopyData {
    /// A reader of this copy for one thread.
    pub fn view(&self) -> CopyView<'_> {
        CopyReader::over(self)
    }
}

impl<D: Borrow<CopyData>> CopyReader<D> {
    #[inline]
    fn d(&self) -> &CopyData {
        self.data.borrow()
    }

    /// Bytes the regions span (copied or not).
    pub fn bytes(&self) -> u64 {
        self.d().regions.iter().map(|r| r.len).sum()
    }

    pub fn regions(&self) -> &[Region] {
        &self.d().regions
    }

    /// Reads answered by the live fallback.
    pub fn fallback_reads(&self) -> u64 {
        self.d().fallback_reads.load(Ordering::Relaxed)
    }

    /// Bytes of late chunks read.
    pub fn late_bytes(&self) -> u64 {
        self.d().late_bytes.load(Ordering::Relaxed)
    }

    #[inline]
    fn region(&self, addr: u64) -> Option<&Region> {
        let regions = &self.d().regions;
        if let Some(r) = regions.get(self.last.get())
            && addr >= r.start
            && addr < r.start + r.len
        {
            return Some(r);
        }
        // a region seen last in this megabyte of addresses, else a search
        let slot = &self.near[((addr >> 20) % NEAR as u64) as usize];
        if let Some(r) = regions.get(slot.get() as usize)
            && addr >= r.start
            && addr < r.start + r.len
        {
            self.last.set(slot.get() as usize);
            return Some(r);
        }
        let i = regions
            .partition_point(|r| r.start <= addr)
            .checked_sub(1)?;
        let r = regions.get(i)?;
        if addr < r.start + r.len {
            self.last.set(i);
            slot.set(i as u32);
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

    /// A word outside the hot chunk: found, its chunk made ready (and the hot one if the
    /// word lies wholly inside it), else read the general way.
    #[inline(never)]
    fn word_slow(&self, addr: u64) -> Option<u64> {
        // a word across two chunks takes the general path
        let inside = addr % CHUNK <= CHUNK - 8;
        if let Some(r) = self.region(addr) {
            let i = r.chunk(addr);
            if inside && self.ready(r, i) {
                let (lo, len) = r.chunk_span(i);
                if lo + len <= r.len && addr - r.start >= lo && addr - r.start + 8 <= lo + len {
                    // SAFETY: [lo, lo + len) lies inside the region's buffer
                    let at = unsafe { r.base.add(lo as usize) };
                    self.hot_start.set(r.start + lo);
                    self.hot_at.set(at.expose_provenance());
                    self.hot_limit.set(len - 7);
                    return r.word_at(addr - r.start);
                }
            }
        }
        let mut b = [0u8; 8];
        self.read(addr, &mut b).then(|| u64::from_le_bytes(b))
    }

    #[cold]
    fn load(&self, r: &Region, i: usize) -> bool {
        let d = self.d();
        let Some(pid) = d.lazy else {
            return false;
        };
        let _loading = d.loading.lock().unwrap_or_else(|e| e.into_inner());
        if r.valid.get(i) {
            // another thread of the walk loaded it meanwhile
            r.touched.set(i);
            return true;
        }
        if r.failed.get(i) {
            return false;
        }
        let (off, len) = r.chunk_span(i);
        if off + len > r.len {
            return false;
        }
        // SAFETY: the chunk is inside the buffer and not valid, so no thread reads it; loads
        // are serialized by `loading`
        let dst = unsafe { std::slice::from_raw_parts_mut(r.base.add(off as usize), len as usize) };
        let remote = [RemoteIoVec {
            base: (r.start + off) as usize,
            len: len as usize,
        }];
        let got = process_vm_readv(pid, &mut [IoSliceMut::new(dst)], &remote);
        if matches!(got, Ok(n) if n as u64 == len) {
            r.valid.set(i);
            r.touched.set(i);
            d.late_bytes.fetch_add(len, Ordering::Relaxed);
            true
        } else {
            r.failed.set(i);
            false
        }
    }
}

impl<D: Borrow<CopyData>> Memory for CopyReader<D> {
    #[inline]
    fn prefetch(&self, addr: u64) {
        // (a chunk not copied may be prefetched: a prefetch never faults)
        if let Some(r) = self.region(addr) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: prefetching is a hint; the address is inside the region's buffer
            unsafe {
                core::arch::x86_64::_mm_prefetch(
                    r.base.add((addr - r.start) as usize) as *const i8,
                    core::arch::x86_64::_MM_HINT_T0,
                );
            }
        }
    }

    /// The parts copied so far (not what may be read late: a region can span gigabytes of
    /// array data, and indexes sized by these ranges must not).
    fn local_ranges(&self) -> Vec<(u64, u64)> {
        self.d()
            .regions
            .iter()
            .flat_map(|r| {
                r.valid_spans()
                    .into_iter()
                    .map(move |(off, len)| (r.start + off, len))
            })
            .collect()
    }

    fn region_ranges(&self) -> Vec<(u64, u64)> {
        self.d().regions.iter().map(|r| (r.start, r.len)).collect()
    }

    fn shared_copy(&self) -> Option<&CopyData> {
        Some(self.d())
    }

    fn give_back_unread(&self) -> u64 {
        let d = self.d();
        if d.lazy.is_none() {
            // (nothing could be read again)
            return 0;
        }
        let _loading = d.loading.lock().unwrap_or_else(|e| e.into_inner());
        let mut given = 0;
        for r in &d.regions {
            let RegionData::Map(map) = &r.data else {
                continue;
            };
            for i in 0..Region::chunks_of(r.start, r.len) {
                if !r.valid.get(i) || r.touched.get(i) {
                    continue;
                }
                let (off, len) = r.chunk_span(i);
                if off + len > r.len || (off + len) as usize > map.len() {
                    continue;
                }
                r.valid.clear(i);
                // SAFETY: the chunk is marked not copied first, so a read of it loads it again
                // (under `loading`, held here); no other thread reads the copy meanwhile, and
                // no reader holds it as its hot chunk (only a chunk read is made hot)
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        off as usize,
                        len as usize,
                    )
                };
                given += len;
            }
        }
        given
    }

    #[inline(always)]
    fn word(&self, addr: u64) -> Option<u64> {
        let off = addr.wrapping_sub(self.hot_start.get());
        if off < self.hot_limit.get() {
            let at = std::ptr::with_exposed_provenance::<u8>(self.hot_at.get() + off as usize);
            // SAFETY: the hot chunk's bytes [off, off + 8) lie inside a region's buffer (set
            // by `word_slow`), which lives as long as the copy this reader reads; a chunk
            // known copied is not written again
            return Some(u64::from_le(unsafe {
                std::ptr::read_unaligned(at as *const u64)
            }));
        }
        self.word_slow(addr)
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
                if r.copy_out(addr - r.start, buf) {
                    return true;
                }
            }
        }
        match &self.d().fallback {
            Some(f) => {
                self.d().fallback_reads.fetch_add(1, Ordering::Relaxed);
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
    fn words_read_through_the_hot_chunk_are_the_copys_bytes() {
        // two regions, neither chunk-aligned; in the second, one chunk is not copied
        let (a, alen) = (0x10_0000u64 - 0x123, 3 * CHUNK + 0x456);
        let (b, blen) = (a + alen + 0x1000, 4 * CHUNK);
        let bytes = |start: u64, len: u64| -> Vec<u8> {
            (0..len).map(|i| ((start + i) * 7 % 251) as u8).collect()
        };
        let rb = Region::new(b, blen, RegionData::Vec(bytes(b, blen)), false);
        let gap = ((b >> CHUNK_SHIFT) + 2) << CHUNK_SHIFT;
        rb.mark_valid(b, gap - b);
        rb.mark_valid(gap + CHUNK, b + blen - gap - CHUNK);
        let copy = HeapCopy::new(
            vec![Region::whole(a, RegionData::Vec(bytes(a, alen))), rb],
            None,
        );
        let expected = |addr: u64| -> Option<u64> {
            let inside = |s: u64, l: u64| addr >= s && addr + 8 <= s + l;
            let not_copied = addr + 8 > gap && addr < gap + CHUNK;
            ((inside(a, alen) || inside(b, blen)) && !not_copied).then(|| {
                u64::from_le_bytes(std::array::from_fn(|k| ((addr + k as u64) * 7 % 251) as u8))
            })
        };
        // edges: region and chunk ends, the word across each, the uncopied chunk's sides
        let mut addrs = Vec::new();
        for edge in [
            a,
            a + alen,
            b,
            b + blen,
            gap,
            gap + CHUNK,
            a + CHUNK - 0x123,
            b + CHUNK,
        ] {
            addrs.extend((0..24).map(|d| edge - 12 + d));
        }
        // and a walk's jumps between and within chunks (a fixed pseudo-random sequence)
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let base = if x & 1 == 0 { a } else { b };
            addrs.push(base - 64 + x % (5 * CHUNK));
            // a second read near the first: the hot path
            addrs.push(base - 64 + x % (5 * CHUNK) + (x >> 40) % 64);
        }
        for addr in addrs {
            assert_eq!(copy.word(addr), expected(addr), "{addr:#x}");
        }
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
        assert_eq!(copy.late_bytes(), 0);
        assert_eq!(copy.u8_at(start + 5), Some(0));
        let late = copy.late_bytes();
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
    fn copied_chunks_not_read_are_given_back_and_read_late_after() {
        // our own memory as the "target", copied whole into a mapped buffer
        let len = 4 * CHUNK as usize;
        let mut target = memmap2::MmapMut::map_anon(len).unwrap();
        target.fill(0x11);
        let start = target.as_ptr() as u64;
        let mut buf = memmap2::MmapMut::map_anon(len).unwrap();
        buf.copy_from_slice(&target);
        let region = Region::new(start, len as u64, RegionData::Map(buf), true);
        let strict = HeapCopy::new(vec![region], None);
        assert_eq!(strict.give_back_unread(), 0, "nothing could be read again");
        let region = strict.into_regions().pop().unwrap();
        let copy = HeapCopy::new(vec![region], None).with_late_reads(std::process::id() as i32);
        // the walk reads the first chunk only; the target changes after the copy
        assert_eq!(copy.u8_at(start), Some(0x11));
        target.fill(0x22);
        let first = copy.regions()[0].chunk_span(0).1;
        let given = copy.give_back_unread();
        assert_eq!(given, len as u64 - first);
        assert_eq!(
            copy.u8_at(start + 8),
            Some(0x11),
            "a chunk read stays copied"
        );
        assert_eq!(copy.late_bytes(), 0);
        let last = start + len as u64 - 1;
        assert_eq!(
            copy.u8_at(last),
            Some(0x22),
            "a chunk given back is read late"
        );
        assert!(copy.late_bytes() > 0);
        assert_eq!(
            copy.give_back_unread(),
            0,
            "given back once, read late once"
        );
        std::hint::black_box(&target);
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
        assert_eq!(copy.late_bytes(), 0);
        assert_eq!(copy.regions()[0].touched_chunks().count(), 0);
    }
}
