//! A game day of several scenarios: the day journal's records (`day.jsonl`, written by
//! `gameday day`) and the day debrief built from the day directory alone (`gameday report DIR`):
//! each scenario's verdict and key times with a link to its own debrief, the action items of all of
//! them, and one timeline.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::history;
use super::summary::Summary;
use crate::fmt;
use crate::fold::RunState;

/// The day journal's file name, in the day directory.
pub const DAY_JOURNAL: &str = "day.jsonl";
/// The day debrief's file name, in the day directory.
pub const DAY_DEBRIEF: &str = "day-debrief.md";
/// Most timeline lines the day debrief shows (the earliest first); each scenario's own debrief
/// has all of its own.
pub const MAX_TIMELINE: usize = 2_000;

/// One record of the day journal.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DayRecord {
    pub ts: DateTime<Utc>,
    #[serde(flatten)]
    pub event: DayEvent,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum DayEvent {
    DayStarted {
        title: String,
        plan: PathBuf,
        date: Option<String>,
        /// Every agenda item's label, in order.
        items: Vec<String>,
        headless: bool,
    },
    ItemStarted {
        index: usize,
        label: String,
        /// The scenario run's journal, relative to the day directory.
        journal: Option<PathBuf>,
    },
    ItemEnded {
        index: usize,
        label: String,
        exit_code: u8,
        /// The verdict's label, or none (the run did not reach one).
        verdict: Option<String>,
        journal: Option<PathBuf>,
    },
    ItemSkipped {
        index: usize,
        label: String,
        why: String,
        /// Who skipped it (the agenda screen's seat), when a person did.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        who: Option<String>,
    },
    /// The agenda screen moved an item later (bounded: `limits::MAX_POSTPONE` in all).
    ItemPostponed {
        index: usize,
        label: String,
        by_ms: u64,
        /// When it is due now, if it has a time.
        until: Option<DateTime<Utc>>,
        who: Option<String>,
    },
    DayEnded {
        exit_code: u8,
        why: String,
    },
}

/// Appends records to `day.jsonl`, each line synced.
pub struct DayJournal {
    file: std::fs::File,
}

impl DayJournal {
    pub fn create(dir: &Path) -> std::io::Result<DayJournal> {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(DAY_JOURNAL))?;
        Ok(DayJournal { file })
    }

    pub fn append(&mut self, event: DayEvent) -> std::io::Result<()> {
        let line = serde_json::to_string(&DayRecord {
            ts: Utc::now(),
            event,
        })
        .map_err(std::io::Error::other)?;
        writeln!(self.file, "{line}")?;
        self.file.sync_data()
    }
}

/// Reads `day.jsonl`; unreadable lines are skipped (the runs' own journals are the record).
pub fn read_day(dir: &Path) -> std::io::Result<Vec<DayRecord>> {
    let text = std::fs::read_to_string(dir.join(DAY_JOURNAL))?;
    Ok(text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect())
}

/// One scenario run of the day, as its journal says.
struct Ran {
    label: String,
    journal: PathBuf,
    run: RunState,
}

/// The day debrief of `dir`: from its `day.jsonl` when there is one (the agenda, skips and why),
/// else from every run journal under it, in time order.
pub fn day_debrief(dir: &Path) -> std::io::Result<String> {
    let records = read_day(dir).unwrap_or_default();
    let mut out = String::new();
    let (title, date) = records
        .iter()
        .find_map(|r| match &r.event {
            DayEvent::DayStarted { title, date, .. } => Some((title.clone(), date.clone())),
            _ => None,
        })
        .unwrap_or_else(|| (dir.display().to_string(), None));
    let _ = writeln!(
        out,
        "# Day debrief: {}{}\n",
        super::html(&title),
        date.map(|d| format!(" ({d})")).unwrap_or_default()
    );

    // The runs: those the day journal names, else every journal found.
    let mut journals: Vec<(String, PathBuf)> = records
        .iter()
        .filter_map(|r| match &r.event {
            DayEvent::ItemStarted {
                label,
                journal: Some(j),
                ..
            } => Some((label.clone(), dir.join(j))),
            _ => None,
        })
        .collect();
    if records.is_empty() {
        let (found, _) = history::journals(dir)?;
        journals = found.into_iter().map(|j| (String::new(), j)).collect();
    }
    let mut ran: Vec<Ran> = Vec::new();
    for (label, journal) in journals {
        if let Ok((run, _)) = RunState::from_journal(&journal)
            && run.start.is_some()
        {
            let label = if label.is_empty() {
                run.scenario
                    .as_ref()
                    .map(|s| s.title.clone())
                    .unwrap_or_else(|| journal.display().to_string())
            } else {
                label
            };
            ran.push(Ran {
                label,
                journal,
                run,
            });
        }
    }
    ran.sort_by_key(|r| r.run.start);

    // Verdicts in one line.
    let summaries: Vec<Summary> = ran.iter().map(|r| Summary::of(&r.run)).collect();
    let held = summaries.iter().filter(|s| s.exit_code == Some(0)).count();
    let skipped: Vec<(String, String)> = records
        .iter()
        .filter_map(|r| match &r.event {
            DayEvent::ItemSkipped {
                label, why, who, ..
            } => Some((
                label.clone(),
                match who {
                    Some(w) => format!("{why} (skipped by {w})"),
                    None => why.clone(),
                },
            )),
            _ => None,
        })
        .collect();
    let _ = writeln!(out, "## Summary\n");
    let _ = writeln!(
        out,
        "{} scenario run(s): {held} held, {} did not{}.",
        ran.len(),
        ran.len() - held,
        if skipped.is_empty() {
            String::new()
        } else {
            format!("; {} agenda item(s) not run", skipped.len())
        }
    );
    if let Some(why) = records.iter().rev().find_map(|r| match &r.event {
        DayEvent::DayEnded { why, .. } => Some(why.clone()),
        _ => None,
    }) {
        let _ = writeln!(
            out,
            "\nThe day ended: {}.",
            super::html(why.trim_end_matches('.'))
        );
    }
    out.push('\n');

    let _ = writeln!(out, "## Scenarios\n");
    let _ = writeln!(
        out,
        "| # | Scenario | Started (UTC) | Verdict | Detect | Detect (auto) | Mitigate | Recover | Faults | Debrief |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let span = fmt::elapsed_ms_or_dash;
    for (i, (r, s)) in ran.iter().zip(&summaries).enumerate() {
        let link = r
            .journal
            .parent()
            .and_then(|p| p.strip_prefix(dir).ok())
            .map(|p| p.join("debrief.md"))
            .map(|p| format!("[debrief]({})", p.display()))
            .unwrap_or_else(|| "—".into());
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} in{} | {link} |",
            i + 1,
            super::cell(&r.label),
            r.run.start.map(fmt::wall_clock).unwrap_or_default(),
            r.run
                .verdict
                .as_ref()
                .map(|v| v.verdict.label())
                .unwrap_or("NO VERDICT"),
            span(s.time_to_detect_ms),
            span(s.time_to_detect_automated_ms),
            span(s.time_to_mitigate_ms),
            span(s.time_to_recover_ms),
            s.faults_injected,
            if s.faults_unresolved > 0 {
                format!(", **{} NOT verified**", s.faults_unresolved)
            } else {
                String::new()
            }
        );
    }
    for (label, why) in &skipped {
        let _ = writeln!(
            out,
            "| — | {} | — | not run | — | — | — | — | — | {} |",
            super::cell(label),
            super::cell(why)
        );
    }
    out.push('\n');

    let _ = writeln!(out, "## Action items\n");
    let mut any = false;
    for (r, s) in ran.iter().zip(&summaries) {
        for a in &s.action_items {
            if !any {
                let _ = writeln!(
                    out,
                    "| Done | Action | Owner | Due | From |\n|---|---|---|---|---|"
                );
                any = true;
            }
            let _ = writeln!(
                out,
                "| [ ] | {} | {} | {} | {} ({}) |",
                super::cell(&a.text),
                super::cell(a.owner.as_deref().unwrap_or("—")),
                super::cell(a.due.as_deref().unwrap_or("—")),
                super::cell(&r.label),
                super::cell(&a.role)
            );
        }
    }
    if !any {
        let _ = writeln!(out, "None recorded.");
    }
    out.push('\n');

    let _ = writeln!(out, "## Timeline\n");
    let mut lines: Vec<(DateTime<Utc>, usize, &str, &str)> = ran
        .iter()
        .enumerate()
        .flat_map(|(i, r)| {
            r.run
                .timeline
                .iter()
                .filter(|e| !e.minor)
                .map(move |e| (e.ts, i, e.src.as_str(), e.text.as_str()))
        })
        .collect();
    lines.sort_by_key(|l| (l.0, l.1));
    let _ = writeln!(out, "| UTC | # | Source | Event |\n|---|---|---|---|");
    for (ts, i, src, text) in lines.iter().take(MAX_TIMELINE) {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} |",
            fmt::wall_clock(*ts),
            i + 1,
            super::cell(src),
            super::prose(super::cell(text))
        );
    }
    if lines.len() > MAX_TIMELINE {
        let _ = writeln!(
            out,
            "\n{} more lines: each scenario's debrief has all of its own.",
            lines.len() - MAX_TIMELINE
        );
    }
    out.push('\n');
    let _ = writeln!(out, "## Journals\n");
    for r in &ran {
        let _ = writeln!(
            out,
            "- {}: `{}`",
            super::html(&r.label),
            r.journal.display()
        );
    }
    Ok(out)
}

/// Writes `day-debrief.md` in `dir` and returns its path.
pub fn write_day_debrief(dir: &Path) -> std::io::Result<PathBuf> {
    let text = day_debrief(dir)?;
    let path = dir.join(DAY_DEBRIEF);
    crate::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}
