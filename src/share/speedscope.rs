//! `--format speedscope`: the stacks' charges as a speedscope profile (the file format of
//! <https://www.speedscope.app/file-format-schema.json>, opened by speedscope.app or its
//! `speedscope FILE` command).
//!
//! Two `sampled` profiles per process: `bytes`, weighted by each stack's net growth (the sum
//! of the RSS changes the analyzer charged to it, when positive: speedscope draws weights as
//! widths, so a stack that freed more than it grew has none), and `none`, weighted by the
//! samples seen on each stack. A sample is a whole stack, root first, as indices into
//! `shared.frames` (one frame per distinct function, file and line across the processes);
//! stacks come in the order they were first seen. A tree gives both profiles for each sampled
//! process, named after it; the bytes profile of the process that grew most opens first.
//!
//! It owns the file's shape (serde structs of the published schema); it never decides what
//! is charged, and writes at most [`folded::FRAME_BUDGET`] frame indices whatever the session
//! holds.

use std::collections::HashMap;

use serde::Serialize;

use super::View;
use super::folded::{self, Charged};
use crate::failure::{Failure, Result};

pub const SCHEMA: &str = "https://www.speedscope.app/file-format-schema.json";

#[derive(Debug, Serialize)]
pub struct File {
    #[serde(rename = "$schema")]
    pub schema: &'static str,
    pub shared: Shared,
    pub profiles: Vec<Profile>,
    pub name: String,
    #[serde(rename = "activeProfileIndex")]
    pub active_profile_index: usize,
    pub exporter: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Shared {
    pub frames: Vec<Frame>,
}

#[derive(Debug, Serialize)]
pub struct Frame {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// Always `sampled`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub name: String,
    /// `bytes` or `none` (samples).
    pub unit: &'static str,
    pub start_value: u64,
    /// The sum of the weights: speedscope's total.
    pub end_value: u64,
    /// Stacks, root first, as indices into `shared.frames`.
    pub samples: Vec<Vec<usize>>,
    pub weights: Vec<u64>,
}

/// `shared.frames`, each distinct frame once.
#[derive(Default)]
struct Frames {
    list: Vec<Frame>,
    index: HashMap<(String, String, u32), usize>,
}

impl Frames {
    fn of(&mut self, f: &crate::event::FrameDef) -> usize {
        let key = (f.function.clone(), f.file.clone(), f.line);
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        self.list.push(Frame {
            name: folded::frame_name(f),
            file: Some(folded::clean(&f.file)),
            line: Some(f.line),
        });
        self.index.insert(key, self.list.len() - 1);
        self.list.len() - 1
    }

    /// A frame that stands for the stacks past the budget.
    fn lump(&mut self, stacks: usize) -> usize {
        self.list.push(Frame {
            name: folded::lump_name(stacks),
            file: None,
            line: None,
        });
        self.list.len() - 1
    }
}

/// One profile of `stacks`, weighted by `weight`.
fn profile<'a>(
    frames: &mut Frames,
    name: String,
    unit: &'static str,
    stacks: &[Charged<'a>],
    weight: impl Fn(&Charged<'a>) -> u64,
    budget: usize,
) -> Profile {
    let sel = folded::select(stacks, weight, budget);
    let mut samples = Vec::with_capacity(sel.kept.len() + 1);
    let mut weights = Vec::with_capacity(sel.kept.len() + 1);
    for (c, w) in &sel.kept {
        samples.push(c.frames.iter().map(|f| frames.of(f)).collect());
        weights.push(*w);
    }
    if sel.lumped_stacks > 0 {
        samples.push(vec![frames.lump(sel.lumped_stacks)]);
        weights.push(sel.lumped_weight);
    }
    Profile {
        kind: "sampled",
        name,
        unit,
        start_value: 0,
        end_value: weights.iter().fold(0u64, |s, w| s.saturating_add(*w)),
        samples,
        weights,
    }
}

/// The speedscope file of `view`. A session with no samples gives a valid file whose profiles
/// are empty.
pub fn build(view: View) -> File {
    let procs = folded::processes(view);
    let command = folded::command(view);
    // two profiles a process share the budget
    let budget = folded::FRAME_BUDGET / (2 * procs.len()).max(1);
    let mut frames = Frames::default();
    let mut profiles = Vec::with_capacity(2 * procs.len());
    for (label, a) in &procs {
        let stacks = folded::charged(a);
        let (bytes_name, samples_name) = match label {
            Some(l) => {
                let l = folded::clean(l);
                (format!("{l}: memory increments"), format!("{l}: samples"))
            }
            None => (
                format!("memory increments: {command}"),
                format!("samples: {command}"),
            ),
        };
        profiles.push(profile(
            &mut frames,
            bytes_name,
            "bytes",
            &stacks,
            Charged::growth,
            budget,
        ));
        profiles.push(profile(
            &mut frames,
            samples_name,
            "none",
            &stacks,
            |c| c.samples,
            budget,
        ));
    }
    // the bytes profile that grew most (the first on a tie, or when nothing grew)
    let active_profile_index = profiles
        .iter()
        .enumerate()
        .step_by(2)
        .max_by(|(i, x), (j, y)| x.end_value.cmp(&y.end_value).then(j.cmp(i)))
        .map_or(0, |(i, _)| i);
    File {
        schema: SCHEMA,
        shared: Shared {
            frames: frames.list,
        },
        profiles,
        name: format!("memwatch: sampled memory increments: {command}"),
        active_profile_index,
        exporter: format!("memwatch {}", env!("CARGO_PKG_VERSION")),
    }
}

/// The speedscope file of `view`, as JSON.
pub fn render(view: View) -> Result<Vec<u8>> {
    let mut out = serde_json::to_vec(&build(view)).map_err(Failure::internal)?;
    out.push(b'\n');
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyzer::Analyzer;
    use crate::share::folded::tests::analyzer;

    fn app() -> Analyzer {
        analyzer(
            &[
                ("load", "/srv/app.py", 45),
                ("main", "/srv/app.py", 60),
                ("<module>", "/srv/app.py", 70),
                ("free", "/srv/app.py", 50),
            ],
            &[&[0, 1, 2], &[1, 2], &[3, 1, 2]],
            &[(1, 1000), (0, 3000), (1, 3100), (2, 3100), (2, 2100)],
        )
    }

    #[test]
    fn two_profiles_with_root_first_stacks_and_their_weights() {
        let a = app();
        let f = build(View::Single(&a));
        let names: Vec<&str> = f.shared.frames.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "<module> (app.py:70)",
                "main (app.py:60)",
                "load (app.py:45)",
                "free (app.py:50)"
            ]
        );
        assert_eq!(f.shared.frames[2].file.as_deref(), Some("/srv/app.py"));
        assert_eq!(f.shared.frames[2].line, Some(45));
        let [bytes, samples] = &f.profiles[..] else {
            panic!("{:?}", f.profiles)
        };
        assert_eq!((bytes.kind, bytes.unit), ("sampled", "bytes"));
        assert_eq!(bytes.samples, [vec![0, 1, 2], vec![0, 1]]);
        assert_eq!(bytes.weights, [2000 * 1024, 100 * 1024]);
        assert_eq!((bytes.start_value, bytes.end_value), (0, 2100 * 1024));
        // every stack that was seen, weighted by its samples (the freeing one too)
        assert_eq!(samples.unit, "none");
        assert_eq!(samples.samples, [vec![0, 1, 2], vec![0, 1], vec![0, 1, 3]]);
        assert_eq!(samples.weights, [1, 2, 2]);
        assert_eq!(samples.end_value, 5);
        assert_eq!(f.active_profile_index, 0);
        let json: serde_json::Value =
            serde_json::from_slice(&render(View::Single(&a)).unwrap()).unwrap();
        assert_eq!(json["$schema"], SCHEMA);
        assert_eq!(json["profiles"][0]["startValue"], 0);
        assert_eq!(json["profiles"][0]["type"], "sampled");
    }

    #[test]
    fn a_tree_has_both_profiles_per_process_and_opens_on_the_one_that_grew() {
        let grew = app();
        let idle = analyzer(
            &[("wait", "/srv/app.py", 9)],
            &[&[0]],
            &[(0, 500), (0, 500)],
        );
        let mut t = crate::tree::TreeAnalyzer::new();
        for (proc, pid, a) in [(0, 4300, idle), (1, 4312, grew)] {
            t.procs.push(crate::tree::ProcView {
                def: crate::event::ProcessDef {
                    proc,
                    pid,
                    command_line: "python3 app.py".into(),
                    root: proc == 0,
                    ..Default::default()
                },
                analyzer: Some(a),
                gone: None,
            });
        }
        let f = build(View::Tree(&t));
        let names: Vec<&str> = f.profiles.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "main 4300 (python3 app.py): memory increments",
                "main 4300 (python3 app.py): samples",
                "worker 4312 (python3 app.py): memory increments",
                "worker 4312 (python3 app.py): samples",
            ]
        );
        assert_eq!(f.active_profile_index, 2);
        assert!(f.profiles[0].samples.is_empty());
        assert_eq!(f.profiles[1].weights, [2]);
    }

    #[test]
    fn an_empty_session_gives_empty_but_valid_profiles() {
        let a = Analyzer::new();
        let f = build(View::Single(&a));
        assert_eq!(f.profiles.len(), 2);
        for p in &f.profiles {
            assert!(p.samples.is_empty() && p.weights.is_empty());
            assert_eq!((p.start_value, p.end_value), (0, 0));
        }
        assert!(f.shared.frames.is_empty());
        assert_eq!(
            f.name,
            "memwatch: sampled memory increments: (command unknown)"
        );
    }

    #[test]
    fn indices_stay_bounded_and_in_range() {
        let frames: Vec<(String, String, u32)> = (0..2000u32)
            .map(|i| (format!("f{i}"), "app.py".to_string(), i))
            .collect();
        let frames: Vec<(&str, &str, u32)> = frames
            .iter()
            .map(|(f, p, l)| (f.as_str(), p.as_str(), *l))
            .collect();
        let stacks: Vec<Vec<u32>> = (0..2000u32)
            .map(|i| (0..256).map(|d| (i + d) % 2000).collect())
            .collect();
        let stacks: Vec<&[u32]> = stacks.iter().map(|s| s.as_slice()).collect();
        let mut rss = 1_000_000u64;
        let charges: Vec<(u32, u64)> = (0..2000u32)
            .map(|i| {
                rss += 8;
                (i, rss)
            })
            .collect();
        let a = analyzer(&frames, &stacks, &charges);
        let f = build(View::Single(&a));
        let indices: usize = f
            .profiles
            .iter()
            .flat_map(|p| p.samples.iter())
            .map(Vec::len)
            .sum();
        assert!(indices <= folded::FRAME_BUDGET + 2, "{indices}");
        for p in &f.profiles {
            assert_eq!(p.samples.len(), p.weights.len());
            assert!(
                p.samples
                    .iter()
                    .flatten()
                    .all(|&i| i < f.shared.frames.len())
            );
            assert!(
                f.shared.frames[*p.samples.last().unwrap().last().unwrap()]
                    .name
                    .contains("lighter stacks")
            );
        }
        assert_eq!(f.profiles[0].end_value, 1999 * 8 * 1024);
        assert_eq!(f.profiles[1].end_value, 2000);
    }
}
