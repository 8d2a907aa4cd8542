//! memwatch: a memory profiler that attaches to a running CPython process from outside.
//!
//! Data flow: [`target`] (attach) → [`sampler`] (own thread) → [`event`] stream →
//! [`analyzer`] → sinks ([`session::writer`], [`status`] or the [`tui`] dashboard, [`report`]).
//! A recorded session is read back by [`session::reader`] into the same event stream and
//! analyzer (`memwatch report`, and `memwatch replay` in the dashboard). The heap census
//! ([`heap`]) reads the target's objects from a copy of its memory.

pub mod analyzer;
pub mod ci;
pub mod cli;
pub mod event;
pub mod export;
pub mod failure;
pub mod findings;
pub mod heap;
pub mod interrupt;
pub mod report;
pub mod sampler;
pub mod session;
pub mod share;
pub mod status;
pub mod target;
pub mod timefmt;
pub mod timing;
pub mod tree;
pub mod tui;
pub mod units;
pub mod watch;
