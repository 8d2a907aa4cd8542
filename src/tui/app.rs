//! The dashboard's own state, apart from the analyzer it shows: the current view, each
//! view's selection, sort order, filter and opened panel, the help screen. Keys change it
//! through [`App::handle`]; what the keys ask of the outside (quit, pause, move in time) comes
//! back as an [`Effect`].

use super::data::HeapCache;
use super::input::Action;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Live,
    Replay,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewId {
    Overview,
    Lines,
    Types,
    Containers,
    Findings,
}

impl ViewId {
    pub const ALL: [ViewId; 5] = [
        ViewId::Overview,
        ViewId::Lines,
        ViewId::Types,
        ViewId::Containers,
        ViewId::Findings,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ViewId::Overview => "Overview",
            ViewId::Lines => "Lines",
            ViewId::Types => "Types",
            ViewId::Containers => "Containers",
            ViewId::Findings => "Findings",
        }
    }

    fn index(self) -> usize {
        ViewId::ALL.iter().position(|v| *v == self).unwrap_or(0)
    }
}

/// A selection in a list whose rows come and go and re-sort between frames: once the user
/// moved it off the first row it follows the selected row by key (and falls back to the
/// position when that row is gone); on the first row it stays there, so a list that grows at
/// its head (findings newest first, the largest types) shows the head until the user looks
/// elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Sel {
    pub key: Option<String>,
    pub index: usize,
    pub offset: usize,
    /// the user put the selection below the first row
    pinned: bool,
}

impl Sel {
    fn moved(&mut self, delta: isize) {
        self.index = self.index.saturating_add_signed(delta);
        self.key = None;
        self.pinned = self.index > 0;
    }

    fn to(&mut self, index: usize) {
        self.index = index;
        self.key = None;
        self.pinned = index > 0;
    }

    /// Settle on the current rows (by key if it is still there); the selected index.
    pub fn settle<'a>(&mut self, keys: impl Iterator<Item = &'a str>) -> Option<usize> {
        let keys: Vec<&str> = keys.collect();
        if keys.is_empty() {
            self.index = 0;
            self.offset = 0;
            return None;
        }
        if self.pinned
            && let Some(k) = &self.key
            && let Some(i) = keys.iter().position(|x| x == k)
        {
            self.index = i;
        }
        self.index = self.index.min(keys.len() - 1);
        self.key = Some(keys[self.index].to_string());
        Some(self.index)
    }

    /// Scroll so that the selection is visible in `height` rows; the first visible row.
    pub fn visible(&mut self, height: usize) -> usize {
        let h = height.max(1);
        if self.index < self.offset {
            self.offset = self.index;
        } else if self.index >= self.offset + h {
            self.offset = self.index + 1 - h;
        }
        self.offset
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineSort {
    Increment,
    Occurrences,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeSort {
    Bytes,
    Count,
    Growth,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerSort {
    Length,
    Size,
    Growth,
    Name,
}

#[derive(Debug, Clone, Default)]
pub struct LinesState {
    pub sel: Sel,
    pub sort_occurrences: bool,
    /// The innermost lines of all code (library included) instead of the program's own lines
    /// (a library call charged to the line that made it).
    pub all_code: bool,
    /// Enter: the keys move in the function table instead of the list.
    pub table_focus: bool,
    pub table: Sel,
    pub filter: String,
}

#[derive(Debug, Clone)]
pub struct TableState<S> {
    pub sel: Sel,
    pub sort: S,
    pub ascending: bool,
    /// Enter: the details of the selected row are open.
    pub detail: bool,
    pub detail_scroll: u16,
    pub filter: String,
}

impl<S> TableState<S> {
    fn new(sort: S) -> Self {
        TableState {
            sel: Sel::default(),
            sort,
            ascending: false,
            detail: false,
            detail_scroll: 0,
            filter: String::new(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct FindingsState {
    pub sel: Sel,
    /// Enter: the keys scroll the text.
    pub text_focus: bool,
    pub scroll: u16,
    pub filter: String,
}

/// What a key asks of the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    None,
    Quit,
    TogglePause,
    /// Replay: a timeline action.
    Time(Action),
}

#[derive(Debug, Clone)]
pub struct App {
    pub mode: Mode,
    pub view: ViewId,
    pub help: bool,
    /// A filter is being typed for the current view.
    pub typing: bool,
    /// Overview: the selected finding.
    pub overview: Sel,
    pub lines: LinesState,
    pub types: TableState<TypeSort>,
    pub containers: TableState<ContainerSort>,
    pub findings: FindingsState,
    pub heap: HeapCache,
    /// Rows in the list last drawn (for PgUp/PgDn).
    pub page: usize,
}

impl App {
    pub fn new(mode: Mode) -> App {
        App {
            mode,
            view: ViewId::Overview,
            help: false,
            typing: false,
            overview: Sel::default(),
            lines: LinesState::default(),
            types: TableState::new(TypeSort::Bytes),
            containers: TableState::new(ContainerSort::Length),
            findings: FindingsState::default(),
            heap: HeapCache::default(),
            page: 10,
        }
    }

    /// The filter of the current view (none on the overview).
    pub fn filter_mut(&mut self) -> Option<&mut String> {
        match self.view {
            ViewId::Overview => None,
            ViewId::Lines => Some(&mut self.lines.filter),
            ViewId::Types => Some(&mut self.types.filter),
            ViewId::Containers => Some(&mut self.containers.filter),
            ViewId::Findings => Some(&mut self.findings.filter),
        }
    }

    pub fn filter(&self) -> &str {
        match self.view {
            ViewId::Overview => "",
            ViewId::Lines => &self.lines.filter,
            ViewId::Types => &self.types.filter,
            ViewId::Containers => &self.containers.filter,
            ViewId::Findings => &self.findings.filter,
        }
    }

    fn switch(&mut self, v: ViewId) {
        self.view = v;
        self.typing = false;
    }

    /// Move the selection, or scroll what is open, by `delta` rows.
    fn step(&mut self, delta: isize) {
        let scroll = |s: &mut u16| *s = (*s as isize + delta).clamp(0, u16::MAX as isize) as u16;
        match self.view {
            ViewId::Overview => self.overview.moved(delta),
            ViewId::Lines if self.lines.table_focus => self.lines.table.moved(delta),
            ViewId::Lines => self.lines.sel.moved(delta),
            ViewId::Types if self.types.detail => scroll(&mut self.types.detail_scroll),
            ViewId::Types => self.types.sel.moved(delta),
            ViewId::Containers if self.containers.detail => {
                scroll(&mut self.containers.detail_scroll)
            }
            ViewId::Containers => self.containers.sel.moved(delta),
            ViewId::Findings if self.findings.text_focus => scroll(&mut self.findings.scroll),
            ViewId::Findings => {
                self.findings.sel.moved(delta);
                self.findings.scroll = 0;
            }
        }
    }

    fn jump(&mut self, last: bool) {
        let to = if last { usize::MAX / 2 } else { 0 };
        match self.view {
            ViewId::Overview => self.overview.to(to),
            ViewId::Lines if self.lines.table_focus => self.lines.table.to(to),
            ViewId::Lines => self.lines.sel.to(to),
            ViewId::Types if self.types.detail => {
                self.types.detail_scroll = if last { u16::MAX / 2 } else { 0 }
            }
            ViewId::Types => self.types.sel.to(to),
            ViewId::Containers if self.containers.detail => {
                self.containers.detail_scroll = if last { u16::MAX / 2 } else { 0 }
            }
            ViewId::Containers => self.containers.sel.to(to),
            ViewId::Findings if self.findings.text_focus => {
                self.findings.scroll = if last { u16::MAX / 2 } else { 0 }
            }
            ViewId::Findings => {
                self.findings.sel.to(to);
                self.findings.scroll = 0;
            }
        }
    }

    /// Apply one action; what the driver must do about it.
    pub fn handle(&mut self, action: Action) -> Effect {
        if self.help {
            return match action {
                Action::Quit => Effect::Quit,
                Action::Help | Action::Back | Action::Enter => {
                    self.help = false;
                    Effect::None
                }
                _ => Effect::None,
            };
        }
        let page = self.page.max(1) as isize;
        match action {
            Action::Quit => return Effect::Quit,
            Action::Help => self.help = true,
            Action::View(v) => self.switch(v),
            Action::NextView => self.switch(ViewId::ALL[(self.view.index() + 1) % 5]),
            Action::PrevView => self.switch(ViewId::ALL[(self.view.index() + 4) % 5]),
            Action::Up => self.step(-1),
            Action::Down => self.step(1),
            Action::PageUp => self.step(-page),
            Action::PageDown => self.step(page),
            Action::Top => self.jump(false),
            Action::Bottom => self.jump(true),
            Action::Enter => match self.view {
                ViewId::Overview => {
                    // the selected finding, in full
                    self.findings.sel.key = self.overview.key.clone();
                    self.findings.text_focus = true;
                    self.findings.scroll = 0;
                    self.switch(ViewId::Findings);
                }
                ViewId::Lines => {
                    self.lines.table_focus = true;
                    self.lines.table = Sel::default();
                }
                ViewId::Types => {
                    self.types.detail = true;
                    self.types.detail_scroll = 0;
                }
                ViewId::Containers => {
                    self.containers.detail = true;
                    self.containers.detail_scroll = 0;
                }
                ViewId::Findings => {
                    self.findings.text_focus = !self.findings.text_focus;
                }
            },
            Action::Back => match self.view {
                ViewId::Lines => self.lines.table_focus = false,
                ViewId::Types => self.types.detail = false,
                ViewId::Containers => self.containers.detail = false,
                ViewId::Findings => self.findings.text_focus = false,
                ViewId::Overview => {}
            },
            Action::Scope => {
                if self.view == ViewId::Lines {
                    self.lines.all_code ^= true;
                }
            }
            Action::Sort | Action::ReverseSort => {
                let reverse = action == Action::ReverseSort;
                match self.view {
                    ViewId::Lines => self.lines.sort_occurrences ^= true,
                    ViewId::Types if reverse => self.types.ascending ^= true,
                    ViewId::Types => {
                        self.types.sort = match self.types.sort {
                            TypeSort::Bytes => TypeSort::Count,
                            TypeSort::Count => TypeSort::Growth,
                            TypeSort::Growth => TypeSort::Name,
                            TypeSort::Name => TypeSort::Bytes,
                        };
                        self.types.ascending = self.types.sort == TypeSort::Name;
                    }
                    ViewId::Containers if reverse => self.containers.ascending ^= true,
                    ViewId::Containers => {
                        self.containers.sort = match self.containers.sort {
                            ContainerSort::Length => ContainerSort::Size,
                            ContainerSort::Size => ContainerSort::Growth,
                            ContainerSort::Growth => ContainerSort::Name,
                            ContainerSort::Name => ContainerSort::Length,
                        };
                        self.containers.ascending = self.containers.sort == ContainerSort::Name;
                    }
                    ViewId::Overview | ViewId::Findings => {}
                }
            }
            Action::Filter => {
                if self.filter_mut().is_some() {
                    self.typing = true;
                }
            }
            Action::FilterChar(c) => {
                if let Some(f) = self.filter_mut() {
                    f.push(c);
                }
            }
            Action::FilterBackspace => {
                if let Some(f) = self.filter_mut() {
                    f.pop();
                }
            }
            Action::FilterDone => self.typing = false,
            Action::FilterCancel => {
                if let Some(f) = self.filter_mut() {
                    f.clear();
                }
                self.typing = false;
            }
            Action::Pause => return Effect::TogglePause,
            Action::StepBack
            | Action::StepForward
            | Action::BigStepBack
            | Action::BigStepForward
            | Action::PrevCensus
            | Action::NextCensus
            | Action::PlayPause
            | Action::Faster
            | Action::Slower
            | Action::Start
            | Action::End => return Effect::Time(action),
            Action::None => {}
        }
        Effect::None
    }
}

/// Does `text` match a filter (case-insensitive substring; empty matches all)?
pub fn matches(filter: &str, text: &str) -> bool {
    filter.is_empty() || text.to_lowercase().contains(&filter.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_its_row_when_rows_reorder() {
        let mut s = Sel::default();
        assert_eq!(s.settle(["a", "b", "c"].into_iter()), Some(0));
        s.moved(1);
        assert_eq!(s.settle(["a", "b", "c"].into_iter()), Some(1));
        // "b" moved to the top: the selection goes with it
        assert_eq!(s.settle(["b", "c", "a"].into_iter()), Some(0));
        // gone: the position stays, clamped
        assert_eq!(s.settle(["c", "a"].into_iter()), Some(0));
        s.moved(10);
        assert_eq!(s.settle(["c", "a"].into_iter()), Some(1));
        assert_eq!(s.settle(std::iter::empty()), None);
    }

    #[test]
    fn keys_switch_views_sort_filter_and_help() {
        let mut app = App::new(Mode::Live);
        app.handle(Action::View(ViewId::Types));
        assert_eq!(app.view, ViewId::Types);
        app.handle(Action::Sort);
        assert_eq!(app.types.sort, TypeSort::Count);
        app.handle(Action::Filter);
        assert!(app.typing);
        for c in "dict".chars() {
            app.handle(Action::FilterChar(c));
        }
        app.handle(Action::FilterDone);
        assert_eq!(app.types.filter, "dict");
        assert!(!app.typing);
        app.handle(Action::Enter);
        assert!(app.types.detail);
        app.handle(Action::Back);
        assert!(!app.types.detail);
        app.handle(Action::Help);
        assert!(app.help);
        // keys do nothing under the help, but quit
        app.handle(Action::NextView);
        assert_eq!(app.view, ViewId::Types);
        assert_eq!(app.handle(Action::Quit), Effect::Quit);
        app.handle(Action::Back);
        assert!(!app.help);
        app.handle(Action::NextView);
        assert_eq!(app.view, ViewId::Containers);
        assert_eq!(app.handle(Action::Pause), Effect::TogglePause);
        assert_eq!(app.handle(Action::StepBack), Effect::Time(Action::StepBack));
    }
}

#[cfg(test)]
mod sel_tests {
    use super::Sel;

    #[test]
    fn first_row_follows_the_head_and_a_moved_selection_follows_its_row() {
        let mut s = Sel::default();
        assert_eq!(s.settle(["a", "b"].into_iter()), Some(0));
        // a new row arrives at the head: an untouched selection shows it
        assert_eq!(s.settle(["new", "a", "b"].into_iter()), Some(0));
        // the user moves to "a"; rows re-sort; the selection stays on "a"
        s.moved(1);
        assert_eq!(s.settle(["new", "a", "b"].into_iter()), Some(1));
        assert_eq!(s.settle(["newer", "new", "a", "b"].into_iter()), Some(2));
        // the row went away: the position is kept, clamped
        assert_eq!(s.settle(["x"].into_iter()), Some(0));
    }
}
