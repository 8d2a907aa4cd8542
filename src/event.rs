//! The event stream: the one vocabulary spoken between the sampler (live) or the session
//! reader (replay, postmortem) and everything downstream of them (analyzer, session writer,
//! status printer, TUI).
//!
//! Events are plain data. Stacks and frames are interned by whoever produces the stream:
//! a `Sample` refers to stacks by [`StackId`], and every id is defined by a [`Event::Stack`]
//! (and its frames by [`Event::Frame`]) *before* the first event that uses it. Consumers keep
//! the definitions they care about; nothing else is shared between producer and consumer.

use serde::{Deserialize, Serialize};

/// Time since the session started, in microseconds.
pub type Micros = u64;

/// Interned `(function, file, line)`.
pub type FrameId = u32;
/// Interned list of frames, innermost first.
pub type StackId = u32;
/// memwatch's own small number for a target thread (stable within a session).
pub type ThreadId = u32;
/// memwatch's number for a process of the watched tree (0: the first target; a
/// single-process watch has only 0).
pub type ProcId = u32;

/// Frame, stack and thread ids of process `p` are `p << PROC_ID_SHIFT | local id` in a tree's
/// stream, so that the definitions of all processes share one id space (the session's
/// `frames`, `stack_frames` and `threads` tables). The sampler caps every local id below
/// `1 << PROC_ID_SHIFT` ([`crate::sampler::stacks::MAX_STACKS`]).
pub const PROC_ID_SHIFT: u32 = 20;
/// Most processes one session can name (ids of process `MAX_PROCS` would overflow a u32).
pub const MAX_PROCS: u32 = (1 << (32 - PROC_ID_SHIFT)) - 1;

/// A process of the watched tree, as first seen.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ProcessDef {
    pub proc: ProcId,
    pub pid: i32,
    /// Parent PID when first seen (0: unknown).
    pub ppid: i32,
    pub command_line: String,
    /// Session time it was first seen.
    pub seen_t: Micros,
    /// `3.12.1` when memwatch samples it; None for a process it only lists (not Python, or
    /// past the cap).
    pub python_version: Option<String>,
    /// Why it is listed but not sampled (`not a Python process`, `cap of 32 reached`, …).
    pub not_sampled: Option<String>,
    /// One of the processes the user named (`--pid`, `run`), not one found below them.
    #[serde(default)]
    pub root: bool,
}

/// What is known about the target and the run, written once at the start.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionInfo {
    pub pid: i32,
    /// The target's command line, space separated.
    pub command_line: String,
    /// Exact interpreter version, e.g. `3.12.1`.
    pub python_version: String,
    /// Path of the python executable or libpython that was recognised.
    pub python_binary: String,
    /// Wall-clock start, seconds since the Unix epoch.
    pub start_unix: f64,
    /// The fast-clock rate asked for, in Hz.
    pub rate_hz: f64,
    /// The memwatch command line that made this session.
    pub memwatch_command: String,
    pub memwatch_version: String,
    /// Whether memwatch started the target (`memwatch run`).
    pub spawned: bool,
    /// The target's page size in bytes (RSS from statm is in pages).
    pub page_size: u64,
    /// A debug build of CPython (`python3.X-dbg`).
    #[serde(default)]
    pub debug_build: bool,
    /// The target's root and namespaces when they are not memwatch's (chroot, container).
    #[serde(default)]
    pub target_root: Option<crate::target::TargetRoot>,
}

/// One frame definition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct FrameDef {
    pub function: String,
    pub file: String,
    pub line: u32,
}

/// A target thread as memwatch names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ThreadDef {
    pub id: ThreadId,
    pub python_thread_id: u64,
    pub os_thread_id: Option<u64>,
    pub name: Option<String>,
    pub is_main: bool,
}

/// The state of one thread at one fast-clock sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSample {
    pub thread: ThreadId,
    pub stack: StackId,
    /// The thread held the GIL at the sample.
    pub gil: bool,
    /// The thread was running (not sleeping or waiting) at the sample.
    pub active: bool,
}

/// One tick of the fast clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub t: Micros,
    /// Resident set size, KiB.
    pub rss_kib: u64,
    /// Every Python thread seen at this tick; empty when the stacks could not be read.
    pub threads: Vec<ThreadSample>,
}

impl Sample {
    /// The thread whose line is charged with what happened at this sample: the GIL holder;
    /// else the only running thread; else the main thread; else the lowest id. Depends only on
    /// the set of threads (not their order), so a replayed session picks the same thread.
    pub fn attributed(&self) -> Option<&ThreadSample> {
        if let Some(t) = self.threads.iter().find(|t| t.gil) {
            return Some(t);
        }
        let mut active = self.threads.iter().filter(|t| t.active);
        if let (Some(only), None) = (active.next(), active.next()) {
            return Some(only);
        }
        self.threads.iter().min_by_key(|t| t.thread)
    }
}

/// `/proc/PID/smaps_rollup` figures, KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MemRollup {
    pub rss_kib: u64,
    pub pss_kib: u64,
    /// Private clean + private dirty: memory that would be freed if the target exited.
    pub uss_kib: u64,
    pub swap_kib: u64,
    /// Resident memory by kind of mapping (from `/proc/PID/smaps`): the brk heap (malloc's
    /// main arena), anonymous mappings (large mallocs, pymalloc arenas, thread stacks,
    /// arrays' data), file-backed mappings (code, libraries, mapped files), the main stack.
    #[serde(default)]
    pub heap_kib: u64,
    #[serde(default)]
    pub anon_kib: u64,
    #[serde(default)]
    pub file_kib: u64,
    #[serde(default)]
    pub stack_kib: u64,
}

/// Open file descriptors of one kind and path pattern (`file /var/log/app-N.log`,
/// `socket tcp`, `pipe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FdGroup {
    pub kind: String,
    pub pattern: String,
    pub count: u32,
}

/// Why the watch ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndReason {
    /// The user pressed Ctrl-C (or `q`).
    Interrupted,
    /// `--duration` elapsed.
    Duration,
    /// The target exited; `code`/`signal` are known only when memwatch started it.
    TargetExited {
        code: Option<i32>,
        signal: Option<i32>,
    },
}

impl std::fmt::Display for EndReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EndReason::Interrupted => write!(f, "interrupted"),
            EndReason::Duration => write!(f, "duration elapsed"),
            EndReason::TargetExited {
                code: Some(c),
                signal: None,
            } => write!(f, "target exited (code {c})"),
            EndReason::TargetExited {
                signal: Some(s), ..
            } => write!(f, "target killed by signal {s}"),
            EndReason::TargetExited { .. } => write!(f, "target exited"),
        }
    }
}

/// The event stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Start(Box<SessionInfo>),
    Frame(FrameId, FrameDef),
    Stack(StackId, Vec<FrameId>),
    Thread(ThreadDef),
    /// The text of a source file as the target sees it (`None`: unreadable).
    Source {
        file: String,
        text: Option<String>,
    },
    Sample(Sample),
    /// A probe of the line clock (`sampler::lineclock`): RSS and the stack of the one thread
    /// the last sample charged, between full samples, sent only around a change of RSS.
    Probe {
        t: Micros,
        rss_kib: u64,
        thread: ThreadId,
        stack: StackId,
        /// The OS said the thread runs (or it could not tell).
        active: bool,
    },
    /// Count of open file descriptors.
    Fds {
        t: Micros,
        count: u32,
    },
    Rollup {
        t: Micros,
        mem: MemRollup,
    },
    /// Events the sampler could not hand over because its consumers were behind.
    Dropped {
        t: Micros,
        count: u64,
    },
    /// What the open fds point at, grouped (slow clock).
    FdTargets {
        t: Micros,
        groups: Vec<FdGroup>,
    },
    /// A heap census (slow clock).
    Census(Box<crate::heap::census::Census>),
    /// Lengths of the latest census's named containers, read between censuses without
    /// pausing the target: those that changed since they were last read, by name.
    Lengths {
        t: Micros,
        rows: Vec<(String, u64)>,
    },
    /// Something the user should know about the watch itself (a census that failed, …).
    Note {
        t: Micros,
        text: String,
    },
    End {
        t: Micros,
        reason: EndReason,
    },
}

impl Event {
    /// Move the frame, stack and thread ids of this event into process `proc`'s share of the
    /// tree's id space (see [`PROC_ID_SHIFT`]). Process 0 keeps its ids.
    pub fn shift_ids(&mut self, proc: ProcId) {
        if proc == 0 {
            return;
        }
        let base = proc << PROC_ID_SHIFT;
        let sh = |id: &mut u32| *id = base | (*id & ((1 << PROC_ID_SHIFT) - 1));
        match self {
            Event::Frame(id, _) => sh(id),
            Event::Stack(id, frames) => {
                sh(id);
                frames.iter_mut().for_each(sh);
            }
            Event::Thread(t) => sh(&mut t.id),
            Event::Sample(s) => {
                for t in s.threads.iter_mut() {
                    sh(&mut t.thread);
                    sh(&mut t.stack);
                }
            }
            Event::Probe { thread, stack, .. } => {
                sh(thread);
                sh(stack);
            }
            _ => {}
        }
    }

    /// The time the event happened at, for events that have one.
    pub fn time(&self) -> Option<Micros> {
        match self {
            Event::Sample(s) => Some(s.t),
            Event::Census(c) => Some(c.t),
            Event::Fds { t, .. }
            | Event::FdTargets { t, .. }
            | Event::Note { t, .. }
            | Event::Rollup { t, .. }
            | Event::Dropped { t, .. }
            | Event::Lengths { t, .. }
            | Event::Probe { t, .. }
            | Event::End { t, .. } => Some(*t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(thread: ThreadId, gil: bool, active: bool) -> ThreadSample {
        ThreadSample {
            thread,
            stack: thread,
            gil,
            active,
        }
    }

    #[test]
    fn attribution_prefers_gil_then_single_active_then_lowest() {
        let s = |threads| Sample {
            t: 0,
            rss_kib: 0,
            threads,
        };
        assert_eq!(
            s(vec![ts(1, false, true), ts(2, true, false)])
                .attributed()
                .unwrap()
                .thread,
            2
        );
        assert_eq!(
            s(vec![ts(3, false, false), ts(2, false, true)])
                .attributed()
                .unwrap()
                .thread,
            2
        );
        // two running threads and no GIL holder: ambiguous, fall back to the lowest id
        assert_eq!(
            s(vec![ts(3, false, true), ts(2, false, true)])
                .attributed()
                .unwrap()
                .thread,
            2
        );
        assert!(s(vec![]).attributed().is_none());
    }
}
