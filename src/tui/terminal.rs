//! The terminal the dashboard draws on: raw mode, the alternate screen and a hidden cursor on
//! entry, and the way back on every exit — a normal quit ([`restore`]), a panic on any thread
//! (a panic hook that restores before the panic message is printed) and a second Ctrl-C or
//! SIGTERM (an async-signal-safe hook run by [`crate::interrupt`] before its immediate exit).
//!
//! Frames are written through [`draw`], which never writes once the terminal was restored
//! (a panic on another thread must not leave a frame on the normal screen).

use std::io::{self, IsTerminal, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, OnceLock};
use std::time::{Duration, Instant};

use crossterm::{cursor, execute, terminal};
use nix::libc;
use ratatui::backend::CrosstermBackend;
use ratatui::{Frame, Terminal};

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// The dashboard owns the terminal (raw mode, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// Held while a frame is written to the terminal, so that a restore from another thread
/// happens between two frames, not in the middle of one.
static WRITING: Mutex<()> = Mutex::new(());
/// The terminal settings before raw mode, for the signal-safe restore.
static SAVED: OnceLock<libc::termios> = OnceLock::new();

/// Both stdin and stdout are terminals (and the terminal is not `dumb`).
pub fn is_tty() -> bool {
    io::stdin().is_terminal()
        && io::stdout().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

/// Take the terminal: raw mode, alternate screen, cursor hidden. On error the terminal is left
/// as it was.
pub fn enter() -> io::Result<Term> {
    install_panic_hook();
    // SAFETY: tcgetattr fills a plain C struct
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(libc::STDIN_FILENO, &mut t) == 0 {
            let _ = SAVED.set(t);
        }
    }
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    crate::interrupt::set_exit_hook(Some(restore_signal_safe));
    let setup = (|| {
        execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)?;
        let mut term = Terminal::new(CrosstermBackend::new(io::stdout()))?;
        term.clear()?;
        Ok(term)
    })();
    if setup.is_err() {
        restore();
    }
    setup
}

/// Give the terminal back: raw mode off, alternate screen left, cursor shown. Idempotent;
/// callable from any thread.
pub fn restore() {
    if !ACTIVE.swap(false, Ordering::SeqCst) {
        return;
    }
    crate::interrupt::set_exit_hook(None);
    let _ = terminal::disable_raw_mode();
    let _ = execute!(io::stdout(), terminal::LeaveAlternateScreen, cursor::Show);
}

/// Is the dashboard on screen?
pub fn active() -> bool {
    ACTIVE.load(Ordering::SeqCst)
}

/// Render a frame with `render` and write it, unless the terminal was restored meanwhile.
/// Whatever `render` locks is released before the terminal is written to.
pub fn draw(term: &mut Term, render: impl FnOnce(&mut Frame)) -> io::Result<()> {
    let mut writing: Option<MutexGuard<'_, ()>> = None;
    let r = term.try_draw(|f| {
        render(f);
        writing = Some(WRITING.lock().unwrap_or_else(|e| e.into_inner()));
        if active() {
            Ok(())
        } else {
            // restored by a panic elsewhere: ratatui writes nothing when the callback fails
            Err(io::Error::other("terminal restored"))
        }
    });
    drop(writing);
    match r {
        Err(_) if !active() => Ok(()),
        other => other.map(|_| ()),
    }
}

/// Restore from a thread that may race a frame being written: wait (briefly) for it to end.
fn restore_between_frames() {
    let deadline = Instant::now() + Duration::from_millis(250);
    let _guard = loop {
        match WRITING.try_lock() {
            Ok(g) => break Some(g),
            Err(std::sync::TryLockError::Poisoned(e)) => break Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            // the writer is this very thread (it panicked while writing) or is stuck
            Err(std::sync::TryLockError::WouldBlock) => break None,
        }
    };
    restore();
}

/// Restore the terminal before the panic message is printed (by the hook installed before).
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if active() {
                restore_between_frames();
            }
            previous(info);
        }));
    });
}

/// The immediate exit of a second Ctrl-C/SIGTERM: only async-signal-safe calls (tcsetattr,
/// write).
extern "C" fn restore_signal_safe() {
    if !ACTIVE.load(Ordering::SeqCst) {
        return;
    }
    if let Some(t) = SAVED.get() {
        // SAFETY: tcsetattr with settings read by tcgetattr
        unsafe {
            libc::tcsetattr(libc::STDIN_FILENO, libc::TCSANOW, t);
        }
    }
    let seq = b"\x1b[?1049l\x1b[?25h\r\n";
    // SAFETY: write(2) of a static buffer
    unsafe {
        libc::write(libc::STDOUT_FILENO, seq.as_ptr().cast(), seq.len());
    }
}
