//! The dashboard (ratatui + crossterm): a live view of a watch (`memwatch --pid`,
//! `memwatch run` on a terminal) and the same views over a recorded session
//! (`memwatch replay FILE`).
//!
//! - [`live`]: the dashboard thread beside a watch; it reads the watch's shared analyzer once
//!   per frame and never makes the sampler wait.
//! - [`replay`]: a session replayed through the same analyzer, with a timeline.
//! - [`app`] (state and keys), [`input`] (key map), [`views`] (one module per view),
//!   [`data`] (figures derived from the analyzer), [`widgets`] (drawing helpers),
//!   [`terminal`] (entering and always restoring the terminal).

pub mod app;
pub mod data;
pub mod input;
pub mod live;
pub mod replay;
pub mod terminal;
pub mod tree;
pub mod views;
pub mod widgets;

#[cfg(test)]
mod tests;

use std::time::Duration;

/// Frames per second: steady, slow enough to read.
pub const FRAME: Duration = Duration::from_millis(250);

/// Should a watch with these options open the dashboard? (A terminal on stdin and stdout,
/// and no `--no-tui`.)
pub fn wanted(no_tui: bool) -> bool {
    !no_tui && terminal::is_tty()
}
