//! The line probe: the Python stack of one thread (code object and line of each frame,
//! innermost first), read from the running target without pausing it, at the fast line clock
//! (1 kHz by default, between py-spy's full reads of every thread at 100 Hz).
//!
//! A probe costs a few small `process_vm_readv` calls: the thread state (its thread id and
//! innermost frame pointer), then one read per frame (code pointer, instruction pointer,
//! previous frame) and one of the innermost frame's code object header. Code objects are
//! cached by address with their names and line table, and revalidated: the innermost one at
//! every probe, the others every [`REVALIDATE`] (a cached entry whose header — type, file and
//! name pointers, first line, line table pointer — no longer matches is read again).
//! Lines come from the cached table ([`super::linetable`]).
//!
//! The offsets are the layout table's (`heap::layout`, one place for every version, checked
//! against the headers and, 3.13+, the interpreter's own `_Py_DebugOffsets`).
//!
//! The target's memory is hostile: every pointer is checked, the thread list and the frame
//! chain are walked at most [`MAX_THREADS`] and [`super::stacks::MAX_FRAMES`] steps, names and
//! tables are read only up to a bound, and the cache holds at most [`MAX_CODES`] code objects.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::heap::layout::{FRAME_OWNER_NOT_PYTHON, Layout};
use crate::heap::memory::{LiveMemory, MAX_ADDR, Memory, MemoryExt};
use crate::heap::strings;

use super::linetable::{self, Format};

/// Threads looked at when searching the thread list.
pub const MAX_THREADS: usize = 4096;
/// Code objects cached (cleared when full).
pub const MAX_CODES: usize = 1 << 16;
/// Lines cached per code object (by instruction offset).
const MAX_LINES_PER_CODE: usize = 4096;
/// Longest line table read, bytes.
const MAX_TABLE: i64 = 1 << 20;
/// Longest name read, characters.
const MAX_NAME: usize = 1024;
/// How often a cached code object that is not the innermost frame's is checked again.
const REVALIDATE: Duration = Duration::from_millis(250);
/// A code offset past this is garbage (no code object is this long).
const MAX_CODE_OFFSET: i64 = 1 << 26;

/// One frame of a probe: its code object's address and the line it is at (0: unknown).
pub type ProbeFrame = (u64, u32);

struct Code {
    /// ob_type, co_filename, co_name, co_linetable pointers and co_firstlineno.
    header: [u64; 5],
    function: String,
    file: String,
    table: Vec<u8>,
    first: i64,
    lines: HashMap<i64, u32>,
    checked: Instant,
}

/// Why a probe read nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeError {
    /// No thread with that id in the target's thread list.
    NoThread,
    /// A read failed or gave garbage (a torn read of a running target, or a wrong layout).
    Unreadable(&'static str),
}

impl std::fmt::Display for ProbeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ProbeError::NoThread => write!(f, "the thread is not in the interpreter's thread list"),
            ProbeError::Unreadable(what) => write!(f, "{what} could not be read"),
        }
    }
}

pub struct LineProbe<M: Memory = LiveMemory> {
    mem: M,
    layout: Layout,
    format: Format,
    runtime: u64,
    /// The thread state of the thread probed last: (its thread id, address).
    tstate: Option<(u64, u64)>,
    codes: HashMap<u64, Code>,
    /// `PyCode_Type`'s address, learned from the first code object whose type is named `code`.
    code_type: Option<u64>,
    /// Bytes of a thread state, a frame and a code header that one read covers.
    tstate_len: usize,
    frame_len: usize,
    code_len: usize,
    /// Buffers of those sizes, kept between probes (the fast clock allocates nothing).
    ts_buf: Vec<u8>,
    frame_buf: Vec<u8>,
    code_buf: Vec<u8>,
}

impl LineProbe {
    pub fn new(pid: i32, layout: Layout, runtime: u64) -> LineProbe {
        LineProbe::with_memory(LiveMemory::new(pid), layout, runtime)
    }
}

impl<M: Memory> LineProbe<M> {
    /// A probe reading `mem` (a live process's, or a fake one in the tests).
    pub fn with_memory(mem: M, layout: Layout, runtime: u64) -> LineProbe<M> {
        let l = &layout;
        let end = |offs: &[u64], width: u64| offs.iter().max().map_or(0, |m| m + width) as usize;
        let tstate_len = end(&[l.tstate_thread_id, l.tstate_frame], 8);
        let frame_code = if l.version.1 <= 10 {
            l.frame_f_code
        } else {
            l.iframe_code
        };
        let mut frame = vec![frame_code, l.frame_back, l.frame_instr];
        frame.extend(l.frame_owner);
        let frame_len = end(&frame, 8);
        let code_len = end(
            &[
                l.ob_type,
                l.code_filename,
                l.code_name,
                l.code_linetable,
                l.code_firstlineno,
            ],
            8,
        );
        LineProbe {
            mem,
            format: Format::of(layout.version.1),
            layout,
            runtime,
            tstate: None,
            codes: HashMap::new(),
            code_type: None,
            tstate_len,
            frame_len,
            code_len,
            ts_buf: vec![0; tstate_len],
            frame_buf: vec![0; frame_len],
            code_buf: vec![0; code_len],
        }
    }

    /// The function and file of a code object seen by the last probes.
    pub fn names(&self, code: u64) -> Option<(&str, &str)> {
        self.codes
            .get(&code)
            .map(|c| (c.function.as_str(), c.file.as_str()))
    }

    /// The stack of the thread whose `tstate->thread_id` is `thread_id`, innermost first, into
    /// `out` (at most `max_frames`; empty: the thread runs no Python code now).
    pub fn probe(
        &mut self,
        thread_id: u64,
        max_frames: usize,
        out: &mut Vec<ProbeFrame>,
    ) -> Result<(), ProbeError> {
        out.clear();
        let mut ts = std::mem::take(&mut self.ts_buf);
        ts.resize(self.tstate_len, 0);
        let found = self.frame_of_thread(thread_id, &mut ts);
        self.ts_buf = ts;
        let Some(frame) = found? else {
            return Ok(());
        };
        let mut buf = std::mem::take(&mut self.frame_buf);
        buf.resize(self.frame_len, 0);
        let walked = self.walk(frame, max_frames, &mut buf, out);
        self.frame_buf = buf;
        walked
    }

    /// The innermost frame of the thread `thread_id` (None: it runs no Python code), its
    /// thread state read into `ts`.
    fn frame_of_thread(
        &mut self,
        thread_id: u64,
        ts: &mut [u8],
    ) -> Result<Option<u64>, ProbeError> {
        let cached = self
            .tstate
            .is_some_and(|(id, at)| id == thread_id && self.read_tstate(at, thread_id, ts));
        if !cached {
            self.tstate = None;
            let at = self.find_thread(thread_id, ts)?;
            self.tstate = Some((thread_id, at));
        }
        let l = &self.layout;
        let frame = word(ts, l.tstate_frame);
        let Some(cf) = l.cframe_current_frame else {
            return Ok(Some(frame));
        };
        if !plausible(frame) {
            return Ok(None);
        }
        self.mem
            .u64_at(frame + cf)
            .map(Some)
            .ok_or(ProbeError::Unreadable(
                "the current frame of the thread state",
            ))
    }

    /// The frames from `frame` outward into `out`, each read into `buf`.
    fn walk(
        &mut self,
        mut frame: u64,
        max_frames: usize,
        buf: &mut [u8],
        out: &mut Vec<ProbeFrame>,
    ) -> Result<(), ProbeError> {
        let frame_code = if self.layout.version.1 <= 10 {
            self.layout.frame_f_code
        } else {
            self.layout.iframe_code
        };
        let now = Instant::now();
        // every frame is one step, Python code or not, so a cycle ends here too
        for _ in 0..super::stacks::MAX_FRAMES * 2 {
            if frame == 0 || out.len() >= max_frames {
                break;
            }
            if !plausible(frame) || !self.mem.read(frame, buf) {
                return Err(ProbeError::Unreadable("a frame"));
            }
            let back = word(buf, self.layout.frame_back);
            if let Some(owner) = self.layout.frame_owner
                && buf
                    .get(owner as usize)
                    .is_none_or(|&o| o >= FRAME_OWNER_NOT_PYTHON)
            {
                frame = back;
                continue;
            }
            let mut code = word(buf, frame_code);
            if self.layout.stackref_code {
                code &= !3;
            }
            let offset = if self.layout.version.1 <= 10 {
                let lasti = word(buf, self.layout.frame_instr) as u32 as i32 as i64;
                if self.format == Format::Linetable310 {
                    lasti.saturating_mul(2)
                } else {
                    lasti
                }
            } else {
                let instr = word(buf, self.layout.frame_instr);
                let start = code.wrapping_add(self.layout.code_adaptive.unwrap_or(0));
                (instr as i64).wrapping_sub(start as i64)
            };
            if !(-2..MAX_CODE_OFFSET).contains(&offset) {
                return Err(ProbeError::Unreadable("an instruction pointer"));
            }
            let line = self.line(code, offset, out.is_empty(), now)?;
            out.push((code, line));
            frame = back;
        }
        Ok(())
    }

    /// Read the thread state at `at` into `ts`; true if it is still `thread_id`'s.
    fn read_tstate(&self, at: u64, thread_id: u64, ts: &mut [u8]) -> bool {
        plausible(at)
            && self.mem.read(at, ts)
            && word(ts, self.layout.tstate_thread_id) == thread_id
    }

    /// Walk the thread list of the main interpreter for `thread_id`.
    fn find_thread(&self, thread_id: u64, ts: &mut [u8]) -> Result<u64, ProbeError> {
        let l = &self.layout;
        let interp = self
            .mem
            .ptr_at(self.runtime + l.runtime_interpreters_head)
            .ok_or(ProbeError::Unreadable("the interpreter state"))?;
        let mut at = self
            .mem
            .u64_at(interp + l.interp_threads_head)
            .ok_or(ProbeError::Unreadable("the thread list"))?;
        for _ in 0..MAX_THREADS {
            if at == 0 {
                break;
            }
            if !plausible(at) || !self.mem.read(at, ts) {
                return Err(ProbeError::Unreadable("a thread state"));
            }
            if word(ts, l.tstate_thread_id) == thread_id {
                return Ok(at);
            }
            at = self
                .mem
                .u64_at(at + l.tstate_next)
                .ok_or(ProbeError::Unreadable("a thread state"))?;
        }
        Err(ProbeError::NoThread)
    }

    /// The line of `offset` in the code object at `code`, loading or checking its cache entry.
    fn line(
        &mut self,
        code: u64,
        offset: i64,
        innermost: bool,
        now: Instant,
    ) -> Result<u32, ProbeError> {
        let due = self
            .codes
            .get(&code)
            .is_none_or(|c| innermost || now.duration_since(c.checked) >= REVALIDATE);
        if due {
            let header = self.header(code)?;
            match self.codes.get_mut(&code) {
                Some(c) if c.header == header => c.checked = now,
                _ => {
                    let c = self.load(header, now)?;
                    if self.codes.len() >= MAX_CODES {
                        self.codes.clear();
                    }
                    self.codes.insert(code, c);
                }
            }
        }
        let format = self.format;
        let c = self
            .codes
            .get_mut(&code)
            .ok_or(ProbeError::Unreadable("a code object"))?;
        if let Some(&line) = c.lines.get(&offset) {
            return Ok(line);
        }
        let line = linetable::line_at(format, &c.table, c.first, offset).unwrap_or(0);
        if c.lines.len() < MAX_LINES_PER_CODE {
            c.lines.insert(offset, line);
        }
        Ok(line)
    }

    /// The header words of the code object at `code`; an error if it is not a code object.
    fn header(&mut self, code: u64) -> Result<[u64; 5], ProbeError> {
        let mut b = std::mem::take(&mut self.code_buf);
        b.resize(self.code_len, 0);
        let read = plausible(code) && self.mem.read(code, &mut b);
        self.code_buf = b;
        if !read {
            return Err(ProbeError::Unreadable("a code object"));
        }
        let l = &self.layout;
        let b = &self.code_buf;
        let header = [
            word(b, l.ob_type),
            word(b, l.code_filename),
            word(b, l.code_name),
            word(b, l.code_linetable),
            word(b, l.code_firstlineno) & 0xffff_ffff,
        ];
        let ty = header[0];
        match self.code_type {
            Some(t) if t == ty => {}
            Some(_) => {
                return Err(ProbeError::Unreadable(
                    "a frame's code is not a code object",
                ));
            }
            None => {
                // tp_name is a C string, not aligned
                let name = self
                    .mem
                    .u64_at(ty.wrapping_add(l.tp_name))
                    .filter(|&p| p != 0 && p < MAX_ADDR)
                    .and_then(|p| self.mem.bytes_at(p, 5));
                if name.as_deref() != Some(b"code\0") {
                    return Err(ProbeError::Unreadable(
                        "a frame's code is not a code object",
                    ));
                }
                self.code_type = Some(ty);
            }
        }
        Ok(header)
    }

    fn load(&self, header: [u64; 5], now: Instant) -> Result<Code, ProbeError> {
        let l = &self.layout;
        let text = |p: u64| strings::read_str(&self.mem, l, p, MAX_NAME);
        let (Some(file), Some(function)) = (text(header[1]), text(header[2])) else {
            return Err(ProbeError::Unreadable("a code object's names"));
        };
        let table_at = header[3];
        let len = self
            .mem
            .i64_at(table_at + l.ob_size)
            .filter(|n| (0..=MAX_TABLE).contains(n))
            .ok_or(ProbeError::Unreadable("a line table"))?;
        let table = self
            .mem
            .bytes_at(table_at + l.bytes_sval, len as usize)
            .ok_or(ProbeError::Unreadable("a line table"))?;
        Ok(Code {
            header,
            function,
            file,
            table,
            first: header[4] as u32 as i32 as i64,
            lines: HashMap::new(),
            checked: now,
        })
    }
}

fn word(b: &[u8], at: u64) -> u64 {
    b.get(at as usize..at as usize + 8)
        .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
}

fn plausible(p: u64) -> bool {
    p != 0 && p.is_multiple_of(8) && p < MAX_ADDR
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::heap::memory::FakeMemory;

    const RUNTIME: u64 = 0x10000;
    const TSTATE: u64 = 0x30000;
    const FRAME: u64 = 0x50000;
    const CODE: u64 = 0x60000;
    const TABLE: u64 = 0x90000;

    /// A 3.12 target: one thread (id 77) running one frame of one code object.
    fn target() -> (FakeMemory, Layout) {
        let l = Layout::new(3, 12, 1).unwrap();
        let mut m = FakeMemory::default();
        let interp = 0x20000;
        m.put_u64(RUNTIME + l.runtime_interpreters_head, interp);
        m.put_u64(interp + l.interp_threads_head, TSTATE);
        m.put(TSTATE, &[0; 256]);
        m.put_u64(TSTATE + l.tstate_thread_id, 77);
        let cframe = 0x40000;
        m.put_u64(TSTATE + l.tstate_frame, cframe);
        m.put_u64(cframe + l.cframe_current_frame.unwrap(), FRAME);
        m.put(FRAME, &[0; 128]);
        m.put_u64(FRAME + l.iframe_code, CODE);
        // the third code unit: line 10 + 1 (a no-column entry of 4 units, +1)
        m.put_u64(FRAME + l.frame_instr, CODE + l.code_adaptive.unwrap() + 4);
        m.put(CODE, &[0; 256]);
        let ty = 0x70000;
        m.put_u64(CODE + l.ob_type, ty);
        m.put_u64(ty + l.tp_name, 0x80001); // unaligned, as C strings are
        m.put(0x80001, b"code\0");
        let mut text = |at: u64, s: &str| {
            m.put(at, &[0; 64]);
            m.put_u64(at + l.str_length, s.len() as u64);
            m.put(at + l.str_state, &[0x64, 0, 0, 0]); // compact ASCII, kind 1
            m.put(at + l.str_ascii_data, s.as_bytes());
        };
        text(0xa0000, "app.py");
        text(0xb0000, "handle");
        m.put_u64(CODE + l.code_filename, 0xa0000);
        m.put_u64(CODE + l.code_name, 0xb0000);
        m.put(CODE + l.code_firstlineno, &10u32.to_le_bytes());
        m.put_u64(CODE + l.code_linetable, TABLE);
        m.put(TABLE, &[0; 64]);
        m.put_u64(TABLE + l.ob_size, 2);
        m.put(TABLE + l.bytes_sval, &[0x80 | (13 << 3) | 3, 2]);
        (m, l)
    }

    fn probe(m: FakeMemory, l: Layout) -> (Result<(), ProbeError>, Vec<ProbeFrame>) {
        let mut p = LineProbe::with_memory(m, l, RUNTIME);
        let mut out = Vec::new();
        let r = p.probe(77, 64, &mut out);
        if r.is_ok() && !out.is_empty() {
            assert_eq!(p.names(CODE), Some(("handle", "app.py")));
        }
        (r, out)
    }

    #[test]
    fn reads_the_thread_frame_code_and_line() {
        let (m, l) = target();
        assert_eq!(probe(m, l), (Ok(()), vec![(CODE, 11)]));
    }

    #[test]
    fn a_frame_chain_that_loops_is_cut_at_the_bound() {
        let (mut m, l) = target();
        m.put_u64(FRAME + l.frame_back, FRAME);
        let (r, out) = probe(m, l);
        assert_eq!(r, Ok(()));
        assert_eq!(out.len(), 64);
    }

    #[test]
    fn a_thread_list_that_loops_ends_without_the_thread() {
        let (mut m, l) = target();
        m.put_u64(TSTATE + l.tstate_thread_id, 78);
        m.put_u64(TSTATE + l.tstate_next, TSTATE);
        assert_eq!(probe(m, l).0, Err(ProbeError::NoThread));
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        type Spoil = Box<dyn Fn(&mut FakeMemory, &Layout)>;
        let cases: Vec<Spoil> = vec![
            // a code pointer to nothing
            Box::new(|m, l| m.put_u64(FRAME + l.iframe_code, 0xdead0000)),
            // not a code object
            Box::new(|m, _| m.put(0x80001, b"list\0")),
            // a line table of a terabyte
            Box::new(|m, l| m.put_u64(TABLE + l.ob_size, 1 << 40)),
            // an instruction pointer far outside the code
            Box::new(|m, l| m.put_u64(FRAME + l.frame_instr, 1 << 40)),
            // a misaligned frame pointer
            Box::new(|m, l| m.put_u64(0x40000 + l.cframe_current_frame.unwrap(), FRAME + 3)),
            // a name of a million characters
            Box::new(|m, l| m.put_u64(0xb0000 + l.str_length, 1 << 20)),
        ];
        for (i, spoil) in cases.iter().enumerate() {
            let (mut m, l) = target();
            spoil(&mut m, &l);
            let (r, _) = probe(m, l);
            assert!(
                matches!(r, Err(ProbeError::Unreadable(_))),
                "case {i}: {r:?}"
            );
        }
    }

    #[test]
    fn a_shim_frame_is_skipped() {
        let (mut m, l) = target();
        let shim = 0x58000;
        m.put(shim, &[0; 128]);
        m.put(shim + l.frame_owner.unwrap(), &[FRAME_OWNER_NOT_PYTHON]);
        m.put_u64(shim + l.frame_back, FRAME);
        m.put_u64(0x40000 + l.cframe_current_frame.unwrap(), shim);
        assert_eq!(probe(m, l), (Ok(()), vec![(CODE, 11)]));
    }
}
