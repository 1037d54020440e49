//! `summary.json`: the run's outcome for machines (dashboards, CI), and the numbers the debrief's
//! executive summary is written from. Schema: docs/summary-json.md (`schema: 1`). Pure: state in,
//! value out.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use crate::event::{CriterionOutcome, RollbackStatus, StepOutcome, Verdict};
use crate::fold::RunState;
use crate::fold::impact::{Recovery, Since, WindowStats};

/// The version of this document's shape; bumped on any incompatible change.
pub const SCHEMA: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub schema: u32,
    pub run: Option<String>,
    pub scenario: Option<String>,
    pub started: Option<String>,
    pub ended: Option<String>,
    /// `held`, `violated`, `aborted`, `manual_action_needed`; null when the run did not finish.
    pub verdict: Option<Verdict>,
    pub exit_code: Option<i32>,
    pub reason: Option<String>,
    /// The verdict in one sentence.
    pub sentence: String,
    pub steps_with_criteria: usize,
    pub steps_passed: usize,
    pub steps_failed: usize,
    pub steps_undecided: usize,
    pub steps: Vec<StepSummary>,
    pub faults_injected: usize,
    pub faults_verified: usize,
    pub faults_unresolved: usize,
    /// First successful inject → first counted `detected` milestone.
    pub time_to_detect_ms: Option<u64>,
    /// First successful inject → the first abort-rule or steady-state breach while it was in.
    pub time_to_detect_automated_ms: Option<u64>,
    pub time_to_mitigate_ms: Option<u64>,
    pub halt_to_rolled_back_ms: Option<u64>,
    /// The slowest recovery of any metric after any rollback.
    pub time_to_recover_ms: Option<u64>,
    /// Recoveries that did not happen (a metric not back before the run ended or the next fault).
    pub not_recovered: usize,
    pub worst_impact: Option<WorstImpact>,
    pub impact: Vec<MetricSummary>,
    /// Action items noted during the run or the review, in journal order (retracted ones left out).
    pub action_items: Vec<ActionItem>,
    /// How many notes of each kind (`observation`, `action_item`, `went_well`, `went_wrong`,
    /// `question`, `runbook_gap`), every kind listed.
    pub notes: Vec<NoteCount>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionItem {
    pub text: String,
    pub owner: Option<String>,
    /// `YYYY-MM-DD` as typed.
    pub due: Option<String>,
    /// Who noted it, and when (UTC).
    pub role: String,
    pub at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct NoteCount {
    pub kind: crate::event::NoteKind,
    pub count: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    pub index: usize,
    pub name: String,
    pub expect: Option<String>,
    /// null: no criteria, not run, or no result journaled.
    pub result: Option<StepOutcome>,
    pub criteria: Vec<CriterionSummary>,
    /// The step's first inject → the first abort-rule or steady-state breach while a fault was in.
    pub time_to_detect_automated_ms: Option<u64>,
    /// The step's first inject → the first `detected` milestone before the next step.
    pub time_to_detect_ms: Option<u64>,
    /// The step's first inject → the first `mitigated` milestone before the next step.
    pub time_to_mitigate_ms: Option<u64>,
    /// The hosts each `select:` of the step chose (the last round's, when it expands).
    pub selections: Vec<SelectionSummary>,
    /// How far the step's `expand:` got; null when it has none or did not run.
    pub expansion: Option<ExpansionSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SelectionSummary {
    pub fault: String,
    pub target: String,
    pub seed: u64,
    pub size: String,
    pub candidates: usize,
    /// Host addresses, sorted.
    pub chosen: Vec<String>,
    pub budget: Option<usize>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpansionSummary {
    /// The last round started (1-based) of `rounds`, its size, and its hosts of the candidates.
    pub round: usize,
    pub rounds: usize,
    pub size: String,
    pub hosts: usize,
    pub candidates: usize,
    /// Whether the last round passed; null while it runs.
    pub passed: Option<bool>,
    /// Why the expansion ended (`every size passed`, or what stopped it).
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CriterionSummary {
    pub index: usize,
    pub label: String,
    pub human: bool,
    /// null: never decided (the step did not run).
    pub outcome: Option<CriterionOutcome>,
    pub at: Option<String>,
    pub value: Option<f64>,
    pub after_ms: Option<u64>,
    pub reason: Option<String>,
    pub by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorstImpact {
    pub metric: String,
    pub worst: Option<f64>,
    pub baseline_mean: Option<f64>,
    pub change_pct: Option<f64>,
    /// Polls without data while faults were in. A metric that had no value at all then (it went
    /// dark: the service stopped answering) is the worst impact, before any change in %.
    pub no_data_during_faults: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    pub samples: u64,
    pub no_data: u64,
    pub mean: Option<f64>,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub worst: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoverySummary {
    /// `rollback`: from the moment every fault was back; `inject`: healing under the fault, from
    /// the moment a fault went in while none was.
    pub since: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rollback_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inject_at: Option<String>,
    /// null when it did not recover.
    pub recovered_ms: Option<u64>,
    /// `recovered`, `not_before_next_fault`, `not_before_end`, `waiting` (run in progress);
    /// from an inject also `not_affected`, `not_while_fault_in`.
    pub outcome: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricSummary {
    pub metric: String,
    pub baseline: WindowSummary,
    pub during: WindowSummary,
    pub after: WindowSummary,
    pub change_pct: Option<f64>,
    pub recoveries: Vec<RecoverySummary>,
}

fn utc(ts: DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn ms(d: chrono::TimeDelta) -> u64 {
    d.num_milliseconds().max(0) as u64
}

fn window(w: &WindowStats, higher_is_better: bool) -> WindowSummary {
    WindowSummary {
        samples: w.samples,
        no_data: w.no_data,
        mean: w.mean(),
        p50: w.quantile(0.5),
        p95: w.quantile(0.95),
        worst: w.worst(higher_is_better),
    }
}

impl Summary {
    pub fn of(run: &RunState) -> Summary {
        let verdict = run.verdict.as_ref();
        let sentence = match verdict {
            None => "The run did not finish: the journal ends without a verdict; check the faults and run `gameday recover` on this journal.".to_string(),
            Some(v) => {
                let lead = match v.verdict {
                    Verdict::Held => "The hypothesis held",
                    Verdict::Violated => "The hypothesis was violated",
                    Verdict::Aborted => "The run was aborted",
                    Verdict::ManualActionNeeded => "Manual action is needed",
                };
                format!("{lead} (exit {}): {}.", v.exit_code, v.reason.trim_end_matches('.'))
            }
        };
        let detection = run.detection();
        let mut steps = Vec::new();
        if let Some(s) = run.scenario.as_deref() {
            for (i, st) in s.steps.iter().enumerate() {
                let det = detection.iter().find(|d| d.index == i);
                let since = |t: Option<DateTime<Utc>>| det.and_then(|d| d.since_inject(t?));
                steps.push(StepSummary {
                    time_to_detect_automated_ms: since(
                        det.and_then(|d| Some(d.automated.as_ref()?.0)),
                    ),
                    time_to_detect_ms: since(det.and_then(|d| d.human)),
                    time_to_mitigate_ms: since(det.and_then(|d| d.mitigated)),
                    selections: run
                        .selections
                        .iter()
                        .filter(|r| r.step == i)
                        .map(|r| SelectionSummary {
                            fault: r.fault.clone(),
                            target: r.target.clone(),
                            seed: r.seed,
                            size: r.size.clone(),
                            candidates: r.candidates,
                            chosen: r.chosen.clone(),
                            budget: r.budget,
                        })
                        .collect(),
                    expansion: run.expansions.iter().find(|e| e.step == i).map(|e| {
                        ExpansionSummary {
                            round: e.round.saturating_add(1),
                            rounds: e.rounds,
                            size: e.size.clone(),
                            hosts: e.hosts,
                            candidates: e.candidates,
                            passed: e.ended.as_ref().map(|x| x.0),
                            reason: e.ended.as_ref().map(|x| x.1.clone()),
                        }
                    }),
                    index: i,
                    name: st.name.clone(),
                    expect: st.expect.clone(),
                    result: run
                        .step_results
                        .iter()
                        .find(|r| r.index == i)
                        .map(|r| r.outcome),
                    criteria: run
                        .criteria
                        .iter()
                        .filter(|c| c.step == i)
                        .map(|c| CriterionSummary {
                            index: c.index,
                            label: c.label.clone(),
                            human: c.human,
                            outcome: c.outcome,
                            at: c.ts.map(utc),
                            value: c.value,
                            after_ms: c.after_ms,
                            reason: c.reason.clone(),
                            by: c.by.clone(),
                        })
                        .collect(),
                });
            }
        }
        let count = |o: StepOutcome| steps.iter().filter(|s| s.result == Some(o)).count();
        let kt = &run.key_times;
        let time_to_detect_automated_ms = detection.iter().find_map(|d| {
            let (t, _) = d.automated.as_ref()?;
            Some(ms(*t - d.first_inject?))
        });
        let mut impact = Vec::new();
        let mut time_to_recover_ms: Option<u64> = None;
        let mut not_recovered = 0;
        let mut worst_impact: Option<WorstImpact> = None;
        for (name, m) in &run.impact.metrics {
            let mut recoveries = Vec::new();
            for r in &m.recoveries {
                let (recovered_ms, outcome) = match r.result(run.ended) {
                    Recovery::Recovered { ms } => (Some(ms), "recovered"),
                    Recovery::Waiting => (None, "waiting"),
                    Recovery::NotBeforeNextFault => (None, "not_before_next_fault"),
                    Recovery::NotBeforeEnd => (None, "not_before_end"),
                    Recovery::NotAffected => (None, "not_affected"),
                    Recovery::NotWhileFaultIn => (None, "not_while_fault_in"),
                };
                if r.since == Since::Inject {
                    recoveries.push(RecoverySummary {
                        since: "inject",
                        rollback_at: None,
                        inject_at: Some(utc(r.from)),
                        recovered_ms,
                        outcome,
                    });
                    continue;
                }
                match recovered_ms {
                    Some(v) => {
                        time_to_recover_ms = Some(time_to_recover_ms.map_or(v, |t| t.max(v)))
                    }
                    None if outcome != "waiting" => not_recovered += 1,
                    None => {}
                }
                recoveries.push(RecoverySummary {
                    since: "rollback",
                    rollback_at: Some(utc(r.from)),
                    inject_at: None,
                    recovered_ms,
                    outcome,
                });
            }
            let change_pct = m.change_pct();
            let dark = |w: &WorstImpact| w.worst.is_none() && w.no_data_during_faults > 0;
            let this = WorstImpact {
                metric: name.clone(),
                worst: m.during.worst(m.higher_is_better),
                baseline_mean: m.baseline.mean(),
                change_pct,
                no_data_during_faults: m.during.no_data,
            };
            let worse = match &worst_impact {
                _ if dark(&this) => worst_impact.as_ref().is_none_or(|w| !dark(w)),
                Some(w) if dark(w) => false,
                _ => change_pct.is_some_and(|c| {
                    worst_impact
                        .as_ref()
                        .is_none_or(|w| w.change_pct.is_none_or(|x| c.abs() > x.abs()))
                }),
            };
            if worse {
                worst_impact = Some(this);
            }
            impact.push(MetricSummary {
                metric: name.clone(),
                baseline: window(&m.baseline, m.higher_is_better),
                during: window(&m.during, m.higher_is_better),
                after: window(&m.after, m.higher_is_better),
                change_pct,
                recoveries,
            });
        }
        Summary {
            schema: SCHEMA,
            run: run.run.clone(),
            scenario: run.scenario.as_ref().map(|s| s.title.clone()),
            started: run.start.map(utc),
            ended: run.last_ts.map(utc),
            verdict: verdict.map(|v| v.verdict),
            exit_code: verdict.map(|v| v.exit_code),
            reason: verdict.map(|v| v.reason.clone()),
            sentence,
            steps_with_criteria: steps.iter().filter(|s| !s.criteria.is_empty()).count(),
            steps_passed: count(StepOutcome::Passed),
            steps_failed: count(StepOutcome::Failed),
            steps_undecided: count(StepOutcome::Undecided),
            steps,
            faults_injected: run
                .faults
                .iter()
                .filter(|f| f.injected.is_some_and(|(_, ok)| ok))
                .count(),
            faults_verified: run
                .faults
                .iter()
                .filter(|f| f.status() == Some(RollbackStatus::Verified))
                .count(),
            faults_unresolved: run.unresolved().count(),
            time_to_detect_ms: kt.time_to_detect().map(ms),
            time_to_detect_automated_ms,
            time_to_mitigate_ms: kt.time_to_mitigate().map(ms),
            halt_to_rolled_back_ms: kt.halt_to_verified.map(|(ms, _)| ms),
            time_to_recover_ms,
            not_recovered,
            worst_impact,
            impact,
            action_items: run
                .notes_of(crate::event::NoteKind::ActionItem)
                .map(|n| ActionItem {
                    text: n.text.clone(),
                    owner: n.owner.clone(),
                    due: n.due.clone(),
                    role: n.role.clone(),
                    at: utc(n.ts),
                })
                .collect(),
            notes: run
                .notes_by_kind()
                .into_iter()
                .map(|(kind, notes)| NoteCount {
                    kind,
                    count: notes.len(),
                })
                .collect(),
        }
    }

    /// The document written as `summary.json`: pretty JSON; non-finite numbers are `null`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| {
            format!(
                "{{\"schema\":{SCHEMA},\"error\":{}}}",
                serde_json::json!(e.to_string())
            )
        })
    }
}
