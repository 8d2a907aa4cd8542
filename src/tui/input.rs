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
    /// Lines view: the program's own lines / the innermost lines of all code.
    Scope,
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
        KeyCode::Char('a') => Action::Scope,
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

/// The actions of a key event. A terminal sends Esc and a key pressed right after it as one
/// Alt-key: that is Esc (back), then the key.
pub fn actions(key: KeyEvent, mode: Mode, typing: bool) -> Vec<Action> {
    if key.modifiers.contains(KeyModifiers::ALT) && matches!(key.code, KeyCode::Char(_)) {
        let mut plain = key;
        plain.modifiers.remove(KeyModifiers::ALT);
        let esc = if typing {
            Action::FilterCancel
        } else {
            Action::Back
        };
        // after Esc a filter is no longer being typed
        return vec![esc, map(plain, mode, false)];
    }
    vec![map(key, mode, typing)]
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
        "a",
        "Lines: your code's lines / the innermost of all code",
        false,
    ),
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
    (
        "w  0",
        "process tree: the process list (Enter shows one)",
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

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyEvent;

    #[test]
    fn keys_by_mode() {
        let k = |c| KeyEvent::new(c, KeyModifiers::NONE);
        assert_eq!(map(k(KeyCode::Char('q')), Mode::Live, false), Action::Quit);
        assert_eq!(
            map(
                KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL),
                Mode::Live,
                true
            ),
            Action::Quit
        );
        assert_eq!(
            map(k(KeyCode::Char('q')), Mode::Live, true),
            Action::FilterChar('q')
        );
        assert_eq!(map(k(KeyCode::End), Mode::Live, false), Action::Bottom);
        assert_eq!(map(k(KeyCode::End), Mode::Replay, false), Action::End);
        assert_eq!(map(k(KeyCode::Char('p')), Mode::Live, false), Action::Pause);
        assert_eq!(
            map(k(KeyCode::Char(' ')), Mode::Replay, false),
            Action::PlayPause
        );
        assert_eq!(map(k(KeyCode::Left), Mode::Live, false), Action::None);
        assert_eq!(map(k(KeyCode::Left), Mode::Replay, false), Action::StepBack);
        assert_eq!(
            map(k(KeyCode::Char('3')), Mode::Live, false),
            Action::View(ViewId::Types)
        );
        // Esc then 4, read as Alt-4
        assert_eq!(
            actions(
                KeyEvent::new(KeyCode::Char('4'), KeyModifiers::ALT),
                Mode::Live,
                false
            ),
            vec![Action::Back, Action::View(ViewId::Containers)]
        );
    }
}
