//! Python stacks of every thread, read with py-spy without pausing the target, turned into
//! interned ids. New frames, stacks and threads are announced as definition events that the
//! sampler sends ahead of the sample that first uses them.
//!
//! Bounds: at most [`MAX_FRAMES`] frames kept per stack (innermost first), at most
//! [`MAX_STACKS`] distinct stacks and [`MAX_FRAME_DEFS`] distinct frames in a session; past
//! that, new ones map to one overflow stack so a pathological target cannot grow our memory.

use std::collections::HashMap;

use py_spy::PythonSpy;

use crate::event::{Event, FrameDef, FrameId, StackId, ThreadDef, ThreadId, ThreadSample};

pub const MAX_FRAMES: usize = 256;
pub const MAX_STACKS: usize = 1 << 20;
pub const MAX_FRAME_DEFS: usize = 1 << 20;
pub const MAX_THREADS: usize = 1 << 16;
/// Longest function or file name kept, in bytes.
const MAX_NAME: usize = 1024;

/// Turns frames and stacks into small ids, announcing new ones.
#[derive(Default)]
pub struct Interner {
    frames: HashMap<FrameDef, FrameId>,
    stacks: HashMap<Vec<FrameId>, StackId>,
    overflow_stack: Option<StackId>,
}

fn clip(s: &str) -> String {
    if s.len() <= MAX_NAME {
        return s.to_string();
    }
    let mut end = MAX_NAME;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

impl Interner {
    fn frame(&mut self, def: FrameDef, out: &mut Vec<Event>) -> Option<FrameId> {
        if let Some(&id) = self.frames.get(&def) {
            return Some(id);
        }
        if self.frames.len() >= MAX_FRAME_DEFS {
            return None;
        }
        let id = self.frames.len() as FrameId;
        self.frames.insert(def.clone(), id);
        out.push(Event::Frame(id, def));
        Some(id)
    }

    fn stack(&mut self, frames: Vec<FrameId>, out: &mut Vec<Event>) -> StackId {
        if let Some(&id) = self.stacks.get(&frames) {
            return id;
        }
        if self.stacks.len() >= MAX_STACKS {
            return self.overflow(out);
        }
        let id = self.stacks.len() as StackId;
        self.stacks.insert(frames.clone(), id);
        out.push(Event::Stack(id, frames));
        id
    }

    fn overflow(&mut self, out: &mut Vec<Event>) -> StackId {
        if let Some(id) = self.overflow_stack {
            return id;
        }
        let id = u32::MAX;
        out.push(Event::Stack(id, Vec::new()));
        self.overflow_stack = Some(id);
        id
    }

    /// Intern a stack of the line probe (code objects and lines, innermost first), named by
    /// `names` (a code object it cannot name is left out, as py-spy leaves out what it cannot
    /// read).
    pub fn intern_probe<'n>(
        &mut self,
        frames: &[super::lineprobe::ProbeFrame],
        names: impl Fn(u64) -> Option<(&'n str, &'n str)>,
        out: &mut Vec<Event>,
    ) -> StackId {
        let mut ids = Vec::with_capacity(frames.len().min(MAX_FRAMES));
        for &(code, line) in frames.iter().take(MAX_FRAMES) {
            let Some((function, file)) = names(code) else {
                continue;
            };
            let def = FrameDef {
                function: clip(function),
                file: clip(file),
                line,
            };
            match self.frame(def, out) {
                Some(id) => ids.push(id),
                None => return self.overflow(out),
            }
        }
        self.stack(ids, out)
    }

    /// Intern a py-spy stack (innermost first).
    pub fn intern(&mut self, frames: &[py_spy::Frame], out: &mut Vec<Event>) -> StackId {
        let mut ids = Vec::with_capacity(frames.len().min(MAX_FRAMES));
        for f in frames.iter().take(MAX_FRAMES) {
            let def = FrameDef {
                function: clip(&f.name),
                file: clip(&f.filename),
                line: f.line.max(0) as u32,
            };
            match self.frame(def, out) {
                Some(id) => ids.push(id),
                None => return self.overflow(out),
            }
        }
        self.stack(ids, out)
    }
}

/// Reads stacks and numbers threads.
pub struct StackReader {
    spy: PythonSpy,
    pid: i32,
    pub interner: Interner,
    threads: HashMap<u64, (ThreadId, Option<String>)>,
    /// OS thread ids by `tstate->thread_id`, as the last read saw them.
    os_tids: HashMap<u64, u64>,
    /// Reads that failed (torn reads of a running target are expected now and then).
    pub errors: u64,
    pub last_error: Option<String>,
}

impl StackReader {
    pub fn new(spy: PythonSpy, pid: i32) -> StackReader {
        StackReader {
            spy,
            pid,
            interner: Interner::default(),
            threads: HashMap::new(),
            os_tids: HashMap::new(),
            errors: 0,
            last_error: None,
        }
    }

    /// The `tstate->thread_id` of one of our thread ids, and its OS thread id if known.
    pub fn python_thread_id(&self, id: ThreadId) -> Option<(u64, Option<u64>)> {
        self.threads
            .iter()
            .find(|(_, (t, _))| *t == id)
            .map(|(&python, _)| (python, self.os_tids.get(&python).copied()))
    }

    /// One read of all threads. Definitions for anything new are appended to `out`.
    pub fn read(&mut self, out: &mut Vec<Event>) -> Option<Vec<ThreadSample>> {
        let mut traces = match self.spy.get_stack_traces() {
            Ok(t) => t,
            Err(e) => {
                self.errors += 1;
                self.last_error = Some(format!("{e:#}"));
                return None;
            }
        };
        // Before 3.11 py-spy (without its unwinder) does not know which OS thread runs a
        // Python thread, so it cannot ask the OS whether the thread sleeps and calls every
        // thread running (a line in time.sleep would be charged what the process's C code
        // allocates). A process with one Python thread runs it on its main thread: ask the
        // OS about that one.
        if let [only] = traces.as_mut_slice()
            && only.os_thread_id.is_none()
        {
            only.os_thread_id = Some(self.pid as u64);
            if only.active
                && let Ok(running) = remoteprocess::Thread::new(self.pid).and_then(|t| t.active())
            {
                only.active = running;
            }
        }
        // number the main thread first so it is the fallback of `Sample::attributed`
        let mut order: Vec<usize> = (0..traces.len()).collect();
        order.sort_by_key(|&i| traces[i].os_thread_id != Some(self.pid as u64));
        let mut samples = Vec::with_capacity(traces.len());
        for i in order {
            let trace = &traces[i];
            let known = self.threads.get(&trace.thread_id).cloned();
            let id = match known {
                Some((id, ref name))
                    if *name == trace.thread_name || trace.thread_name.is_none() =>
                {
                    id
                }
                _ => {
                    if known.is_none() && self.threads.len() >= MAX_THREADS {
                        continue;
                    }
                    let id = known.map(|k| k.0).unwrap_or(self.threads.len() as ThreadId);
                    self.threads
                        .insert(trace.thread_id, (id, trace.thread_name.clone()));
                    out.push(Event::Thread(ThreadDef {
                        id,
                        python_thread_id: trace.thread_id,
                        os_thread_id: trace.os_thread_id,
                        name: trace.thread_name.clone(),
                        is_main: trace.os_thread_id == Some(self.pid as u64),
                    }));
                    id
                }
            };
            if let Some(tid) = trace.os_thread_id
                && (self.os_tids.len() < MAX_THREADS || self.os_tids.contains_key(&trace.thread_id))
            {
                self.os_tids.insert(trace.thread_id, tid);
            }
            let stack = self.interner.intern(&trace.frames, out);
            samples.push(ThreadSample {
                thread: id,
                stack,
                gil: trace.owns_gil,
                active: trace.active,
            });
        }
        Some(samples)
    }
}
