//! Keys → actions. One table for the live dashboard and replay; the few keys that differ
//! (Home/End, ←/→, space, p) depend on the [`Mode`].

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::app::{Mode, ViewId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    View(ViewId),
    NextView,
    PrevView,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Enter,
    Back,
    Sort,
    ReverseSort,
    Filter,
    Pause,
    Help,
    // replay
    StepBack,
    StepForward,
    BigStepBack,
    BigStepForward,
    PrevCensus,
    NextCensus,
    PlayPause,
    Faster,
    Slower,
    Start,
    End,
    // while typing a filter
    FilterChar(char),
    FilterBackspace,
    FilterDone,
    FilterCancel,
    None,
}

/// The action of a key. `typing`: a filter is being edited (keys are text).
pub fn map(key: KeyEvent, mode: Mode, typing: bool) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    let shift = key.modifiers.contains(KeyModifiers::SHIFT);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Action::Quit;
    }
    if typing {
        return match key.code {
            KeyCode::Enter => Action::FilterDone,
            KeyCode::Esc => Action::FilterCancel,
            KeyCode::Backspace => Action::FilterBackspace,
            KeyCode::Char(c) if !ctrl => Action::FilterChar(c),
            _ => Action::None,
        };
    }
    let replay = mode == Mode::Replay;
    match key.code {
        KeyCode::Char('q') | KeyCode::Char('Q') => Action::Quit,
        KeyCode::Tab => Action::NextView,
        KeyCode::BackTab => Action::PrevView,
        KeyCode::Char(c @ '1'..='5') => Action::View(ViewId::ALL[(c as u8 - b'1') as usize]),
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Char('u') if ctrl => Action::PageUp,
        KeyCode::Char('d') if ctrl => Action::PageDown,
        KeyCode::Char('g') => Action::Top,
        KeyCode::Char('G') => Action::Bottom,
        KeyCode::Home if replay => Action::Start,
        KeyCode::End if replay => Action::End,
        KeyCode::Home => Action::Top,
        KeyCode::End => Action::Bottom,
        KeyCode::Enter => Action::Enter,
        KeyCode::Esc | KeyCode::Backspace => Action::Back,
        KeyCode::Char('s') => Action::Sort,
        KeyCode::Char('S') => Action::ReverseSort,
        KeyCode::Char('/') => Action::Filter,
        KeyCode::Char('?') | KeyCode::F(1) => Action::Help,
        KeyCode::Char('p') | KeyCode::Char(' ') if replay => Action::PlayPause,
        KeyCode::Char('p') | KeyCode::Char(' ') => Action::Pause,
        KeyCode::Left if replay && shift => Action::BigStepBack,
        KeyCode::Right if replay && shift => Action::BigStepForward,
        KeyCode::Char('H') if replay => Action::BigStepBack,
        KeyCode::Char('L') if replay => Action::BigStepForward,
        KeyCode::Left | KeyCode::Char('h') if replay => Action::StepBack,
        KeyCode::Right | KeyCode::Char('l') if replay => Action::StepForward,
        KeyCode::Char('[') if replay => Action::PrevCensus,
        KeyCode::Char(']') if replay => Action::NextCensus,
        KeyCode::Char('+') | KeyCode::Char('=') if replay => Action::Faster,
        KeyCode::Char('-') | KeyCode::Char('_') if replay => Action::Slower,
        _ => Action::None,
    }
}

/// Every key, for the help screen: (keys, what they do, replay only).
pub const HELP: &[(&str, &str, bool)] = &[
    ("Tab  Shift-Tab", "next / previous view", false),
    (
        "1 2 3 4 5",
        "Overview, Lines, Types, Containers, Findings",
        false,
    ),
    (
        "↑ ↓  k j",
        "move the selection (or scroll the opened panel)",
        false,
    ),
    (
        "PgUp PgDn",
        "a page up / down (also Ctrl-U / Ctrl-D)",
        false,
    ),
    ("g G", "first / last row (Home / End when live)", false),
    (
        "Enter",
        "open: line table, why-alive, details, finding text",
        false,
    ),
    (
        "Esc",
        "back: close the panel, the filter or this help",
        false,
    ),
    ("s  S", "sort by the next column / reverse the order", false),
    (
        "/",
        "filter the list (type; Enter keeps it, Esc clears)",
        false,
    ),
    (
        "p  space",
        "live: pause the display (sampling goes on)",
        false,
    ),
    ("?", "this help", false),
    (
        "q  Ctrl-C",
        "quit (live: stop, finalise the session, report)",
        false,
    ),
    (
        "← →  h l",
        "step back / forward in time (Shift or H L: ×10)",
        true,
    ),
    ("[ ]", "previous / next census", true),
    ("space  p", "play / pause", true),
    ("+ -", "faster / slower", true),
    ("Home End", "start / end of the timeline", true),
];
