//! Host selection, the blast radius and progressive expansion, under tokio's paused clock, on a
//! fleet of scripted hosts that record what they were sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::event::{Envelope, Event};
use crate::metric::{Probe, ProbeMap, Reading};
use crate::scenario::select;
use crate::target::{BoxFuture, Host, HostMap};

/// Every command sent to the fleet, as (host, command), in the order they were sent.
type Sent = Arc<Mutex<Vec<(String, String)>>>;

/// A host that answers every command with exit 0 after 5 ms and records it.
struct FleetHost {
    name: String,
    sent: Sent,
    /// Whether faults on it get a dead-man lease.
    leases: bool,
}

impl Host for FleetHost {
    fn name(&self) -> &str {
        &self.name
    }
    fn leases(&self) -> bool {
        self.leases
    }
    fn exec<'a>(&'a self, command: &'a str, _timeout: Duration) -> BoxFuture<'a, CommandOutcome> {
        self.sent
            .lock()
            .unwrap()
            .push((self.name.clone(), command.to_string()));
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            CommandOutcome {
                exit: Some(0),
                ms: 5,
                ..Default::default()
            }
        })
    }
}

/// A probe whose reading is a function of time since the run started.
struct TimedProbe {
    t0: Instant,
    f: Box<dyn Fn(Duration) -> Reading + Send + Sync>,
}

impl Probe for TimedProbe {
    fn poll(&self) -> BoxFuture<'_, Reading> {
        let r = (self.f)(self.t0.elapsed());
        Box::pin(async move { r })
    }
}

/// Ten hosts, `web-01` … `web-10`.
fn fleet_yaml(blast_radius: &str, steps: &str) -> String {
    format!(
        r#"title: Fleet
hypothesis: errors stay low
max_duration: 2h
{blast_radius}
targets:
  web: {{ hosts: [web-01, web-02, web-03, web-04, web-05, web-06, web-07, web-08, web-09, web-10] }}
metrics:
  errors: {{ command: "x", target: web, every: 1s, timeout: 1s }}
abort:
  - {{ metric: errors, above: 500, for: 30s }}
steps:
{steps}"#
    )
}

struct Fleet {
    outcome: RunOutcome,
    events: Vec<Envelope>,
    sent: Sent,
    scenario: Arc<Scenario>,
    _dir: tempfile::TempDir,
}

impl Fleet {
    fn has(&self, pred: impl Fn(&Event) -> bool) -> bool {
        self.events.iter().any(|e| pred(&e.event))
    }
    fn position(&self, pred: impl Fn(&Event) -> bool) -> Option<usize> {
        self.events.iter().position(|e| pred(&e.event))
    }
    /// Hosts each intent went to, in journal order.
    fn intents(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match &e.event {
                Event::FaultIntent { host, .. } => Some(host.clone()),
                _ => None,
            })
            .collect()
    }
    /// Hosts that were sent an inject.
    fn injected_on(&self) -> std::collections::BTreeSet<String> {
        self.sent
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, c)| c.starts_with("inject"))
            .map(|(h, _)| h.clone())
            .collect()
    }
    fn selections(&self) -> Vec<(u64, Vec<String>, Vec<String>)> {
        self.events
            .iter()
            .filter_map(|e| match &e.event {
                Event::HostsSelected {
                    seed,
                    candidates,
                    chosen,
                    ..
                } => Some((*seed, candidates.clone(), chosen.clone())),
                _ => None,
            })
            .collect()
    }
}

/// Runs `scenario` (changed by `edit` after validation) on the fleet, `errors` reading
/// `reading(t)`.
async fn run_fleet(
    yaml: &str,
    edit: impl FnOnce(&mut Scenario),
    reading: impl Fn(Duration) -> Reading + Send + Sync + 'static,
) -> Fleet {
    run_fleet_leased(yaml, edit, reading, false).await
}

/// [`run_fleet`] on hosts that take dead-man leases when `leases` is set.
async fn run_fleet_leased(
    yaml: &str,
    edit: impl FnOnce(&mut Scenario),
    reading: impl Fn(Duration) -> Reading + Send + Sync + 'static,
    leases: bool,
) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let mut scenario = Scenario::parse(&dir.path().join("s.yaml"), yaml).expect("valid scenario");
    edit(&mut scenario);
    let scenario = Arc::new(scenario);
    let sent: Sent = Arc::default();
    let hosts: Vec<Arc<dyn Host>> = scenario
        .target_hosts("web")
        .iter()
        .map(|a| {
            Arc::new(FleetHost {
                name: a.to_string(),
                sent: sent.clone(),
                leases,
            }) as Arc<dyn Host>
        })
        .collect();
    let mut map = HostMap::new();
    map.insert("web".into(), hosts);
    let mut probes = ProbeMap::new();
    probes.insert(
        "errors".into(),
        Arc::new(TimedProbe {
            t0: Instant::now(),
            f: Box::new(reading),
        }) as Arc<dyn Probe>,
    );
    let journal = dir.path().join("journal.jsonl");
    let writer = crate::journal::JournalWriter::create(&journal, "test-run").unwrap();
    let (engine, handle) = Engine::new(scenario.clone(), map, probes, writer, Options::default());
    let outcome = engine.run().await.unwrap();
    drop(handle);
    Fleet {
        outcome,
        events: crate::journal::read(&journal).unwrap().events,
        sent,
        scenario,
        _dir: dir,
    }
}

fn calm(_t: Duration) -> Reading {
    Ok(1.0)
}

const ONE_FAULT: &str = r#"  - name: Some web nodes
    duration: 1m
    faults:
      - { kind: command, id: f1, target: web, inject: "inject f1", rollback: "undo f1", verify: "verify f1", select: { count: 3, exclude: [web-01] }, seed: 42 }
"#;

#[tokio::test(start_paused = true)]
async fn only_the_chosen_hosts_get_intents_and_the_choice_is_journaled_first() {
    let run = run_fleet(
        &fleet_yaml("blast_radius: { max_hosts: 5 }", ONE_FAULT),
        |_| {},
        calm,
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    let sels = run.selections();
    assert_eq!(sels.len(), 1);
    let (seed, candidates, chosen) = &sels[0];
    assert_eq!(*seed, 42);
    assert_eq!(candidates.len(), 9, "web-01 excluded");
    assert!(!candidates.contains(&"web-01".to_string()));
    // The same seed and candidates choose the same hosts as the pure selection.
    let expected = select::choose(
        &run.scenario.steps[0].faults[0]
            .select
            .as_ref()
            .unwrap()
            .candidates(run.scenario.target_hosts("web")),
        3,
        42,
    );
    let expected: Vec<String> = expected.chosen.iter().map(ToString::to_string).collect();
    assert_eq!(chosen, &expected);
    // Intents and injects went to the chosen hosts only.
    let mut intents = run.intents();
    intents.sort();
    assert_eq!(&intents, chosen);
    let injected: Vec<String> = run.injected_on().into_iter().collect();
    assert_eq!(&injected, chosen);
    // The choice is journaled before any intent.
    let selected = run
        .position(|e| matches!(e, Event::HostsSelected { .. }))
        .unwrap();
    let first_intent = run
        .position(|e| matches!(e, Event::FaultIntent { .. }))
        .unwrap();
    assert!(selected < first_intent);
    assert!(run.has(|e| matches!(
        e,
        Event::HostsSelected {
            budget: Some(5),
            ..
        }
    ))); // The debrief's Faults section: which hosts, out of how many, with which seed.
    let md = crate::report::debrief(&crate::fold::RunState::from_events(&run.events));
    let line = format!(
        "- **f1** (step 1): 3 of 9 candidate host(s) of `web` chosen (3) with seed 42; blast radius 5 at once: {}",
        chosen.join(", ")
    );
    assert!(md.contains(&line), "{line}\n{md}");
}

#[tokio::test(start_paused = true)]
async fn without_a_seed_a_fresh_one_is_drawn_and_journaled() {
    let yaml = fleet_yaml("", &ONE_FAULT.replace(", seed: 42", ""));
    let a = run_fleet(&yaml, |_| {}, calm).await;
    let b = run_fleet(&yaml, |_| {}, calm).await;
    let (sa, ca, chosen_a) = a.selections().remove(0);
    let (sb, _, _) = b.selections().remove(0);
    assert_ne!(sa, sb, "a fresh seed per run");
    // The journaled seed reproduces the choice.
    let again: Vec<String> = select::choose(
        &ca.iter()
            .map(|h| crate::scenario::parse_host(h).unwrap())
            .collect::<Vec<_>>(),
        3,
        sa,
    )
    .chosen
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(again, chosen_a);
    assert!(a.has(|e| matches!(e, Event::HostsSelected { budget: None, .. })));
}

#[tokio::test(start_paused = true)]
async fn a_selection_over_the_budget_at_run_time_injects_nothing_and_halts() {
    // Valid as written (3 of 5); the budget shrinks after validation, as when the fleet shrank.
    let run = run_fleet(
        &fleet_yaml("blast_radius: { max_hosts: 5 }", ONE_FAULT),
        |s| s.blast_radius.as_mut().unwrap().max_hosts = Some(2),
        calm,
    )
    .await;
    assert_eq!(
        run.outcome.verdict,
        Verdict::Aborted,
        "{}",
        run.outcome.reason
    );
    assert!(
        run.outcome.reason.contains("blast radius"),
        "{}",
        run.outcome.reason
    );
    assert!(run.has(|e| matches!(
        e,
        Event::SelectionRefused {
            hosts: 3,
            budget: 2,
            ..
        }
    )));
    assert!(run.intents().is_empty(), "no intent journaled");
    assert!(run.injected_on().is_empty(), "no inject sent");
    assert!(
        !run.sent
            .lock()
            .unwrap()
            .iter()
            .any(|(_, c)| c.starts_with("undo")),
        "nothing to undo"
    );
    let refused = run
        .position(|e| matches!(e, Event::SelectionRefused { .. }))
        .unwrap();
    let halt = run
        .position(|e| matches!(e, Event::HaltRequested { .. }))
        .unwrap();
    assert!(refused < halt);
}

#[tokio::test(start_paused = true)]
async fn a_fault_without_select_goes_to_every_host_and_journals_no_selection() {
    let steps = ONE_FAULT.replace(", select: { count: 3, exclude: [web-01] }, seed: 42", "");
    let run = run_fleet(&fleet_yaml("", &steps), |_| {}, calm).await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    assert!(run.selections().is_empty());
    assert_eq!(run.injected_on().len(), 10);
}

// ---- progressive expansion ------------------------------------------------------------------

/// Three rounds on the ten hosts: 1, 3 (30 %) and 5 (50 %), then a plain step.
fn expanding(criterion: &str) -> String {
    fleet_yaml(
        "",
        &format!(
            r#"  - name: Grow
    duration: 1m
    expand: [1, 30%, 50%]
    faults:
      - {{ kind: command, id: f1, target: web, inject: "inject f1", rollback: "undo f1", verify: "verify f1", seed: 7 }}
    success:
      - {{ metric: errors, {criterion}, throughout: true, name: "errors < 100 throughout" }}
  - {{ name: After, duration: 1m }}
"#
        ),
    )
}

impl Fleet {
    /// (round, passed, expanding, reason) of every round that ended.
    fn rounds(&self) -> Vec<(usize, bool, bool, String)> {
        self.events
            .iter()
            .filter_map(|e| match &e.event {
                Event::ExpansionRoundEnded {
                    round,
                    passed,
                    expanding,
                    reason,
                    ..
                } => Some((*round, *passed, *expanding, reason.clone())),
                _ => None,
            })
            .collect()
    }
    /// The hosts of each round's intents.
    fn intents_per_round(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = Vec::new();
        for e in &self.events {
            match &e.event {
                Event::ExpansionRoundStarted { .. } => out.push(Vec::new()),
                Event::FaultIntent { host, .. } => {
                    if let Some(last) = out.last_mut() {
                        last.push(host.clone());
                    }
                }
                _ => {}
            }
        }
        out
    }
    fn debrief(&self) -> String {
        crate::report::debrief(&crate::fold::RunState::from_events(&self.events))
    }
}

#[tokio::test(start_paused = true)]
async fn every_round_passes_and_the_selection_grows_as_a_superset() {
    let run = run_fleet(&expanding("below: 100"), |_| {}, calm).await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    let rounds = run.rounds();
    assert_eq!(
        rounds.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>(),
        [(0, true, true), (1, true, true), (2, true, false)]
    );
    assert_eq!(rounds[2].3, "every size passed");
    let per_round = run.intents_per_round();
    assert_eq!(
        per_round.iter().map(Vec::len).collect::<Vec<_>>(),
        [1, 3, 5]
    );
    for w in per_round.windows(2) {
        assert!(
            w[0].iter().all(|h| w[1].contains(h)),
            "{w:?}: a superset each round"
        );
    }
    // Every round's selection uses the same seed, journaled each time before its intents.
    assert!(run.selections().iter().all(|s| s.0 == 7));
    // Each round is judged afresh: a criterion result and a step result per round.
    let results = run
        .events
        .iter()
        .filter(|e| matches!(e.event, Event::StepResult { index: 0, .. }))
        .count();
    assert_eq!(results, 3);
    // The step after the expanding one runs.
    assert!(run.has(|e| matches!(e, Event::StepStarted { index: 1, .. })));
    let md = run.debrief();
    assert!(
        md.contains("Expansion of step 1 (Grow): reached 50 % (5 of 10 hosts), round 3 of 3; every size passed"),
        "{md}"
    );
    // Detection is shown per round.
    let state = crate::fold::RunState::from_events(&run.events);
    let names: Vec<String> = state.detection().into_iter().map(|d| d.name).collect();
    assert_eq!(
        names,
        [
            "Grow (round 1: 1)",
            "Grow (round 2: 30 %)",
            "Grow (round 3: 50 %)",
            "After"
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_criterion_failing_in_round_two_stops_the_expansion() {
    // Round 2 runs from about 60 s to 120 s: a bad minute inside it.
    let run = run_fleet(
        &expanding("below: 100"),
        |_| {},
        |t| {
            Ok(if (70..80).contains(&t.as_secs()) {
                200.0
            } else {
                1.0
            })
        },
    )
    .await;
    assert_eq!(
        run.outcome.verdict,
        Verdict::Violated,
        "{}",
        run.outcome.reason
    );
    let rounds = run.rounds();
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert_eq!((rounds[1].1, rounds[1].2), (false, false));
    assert_eq!(
        rounds[1].3,
        "criterion `errors < 100 throughout` failed in round 2"
    );
    assert_eq!(
        run.intents_per_round()
            .iter()
            .map(Vec::len)
            .collect::<Vec<_>>(),
        [1, 3],
        "no third round"
    );
    assert_eq!(run.injected_on().len(), 3);
    // The run goes on to the next step; everything is back.
    assert!(run.has(|e| matches!(e, Event::StepStarted { index: 1, .. })));
    assert!(!run.has(|e| matches!(e, Event::HaltRequested { .. })));
    let state = crate::fold::RunState::from_events(&run.events);
    assert_eq!(
        state.expansions[0].line(),
        "reached 30 % (3 of 10 hosts), round 2 of 3; stopped: criterion `errors < 100 throughout` failed in round 2"
    );
    // The step's result is its last round's.
    assert_eq!(
        state.step_results.iter().filter(|r| r.index == 0).count(),
        1
    );
    assert_eq!(
        state.step_results[0].outcome,
        crate::event::StepOutcome::Failed
    );
    let md = run.debrief();
    assert!(
        md.contains("Expansion of step 1 (Grow): reached 30 % (3 of 10 hosts), round 2 of 3; stopped: criterion `errors &lt; 100 throughout` failed in round 2"),
        "{md}"
    );
    // summary.json says the same for machines.
    let summary = serde_json::to_value(crate::report::summary::Summary::of(&state)).unwrap();
    let e = &summary["steps"][0]["expansion"];
    assert_eq!(
        (e["round"].as_u64(), e["rounds"].as_u64()),
        (Some(2), Some(3))
    );
    assert_eq!(e["passed"], serde_json::json!(false));
    assert_eq!(
        e["reason"],
        serde_json::json!("criterion `errors < 100 throughout` failed in round 2")
    );
    assert_eq!(
        summary["steps"][0]["selections"][0]["seed"],
        serde_json::json!(7)
    );
    assert_eq!(
        summary["steps"][0]["selections"][0]["chosen"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
}

#[tokio::test(start_paused = true)]
async fn an_abort_rule_breach_stops_the_expansion() {
    // Above 500 for 5 s in round 2: a breach that clears before its 30 s window trips.
    let run = run_fleet(
        &expanding("below: 1000"),
        |_| {},
        |t| {
            Ok(if (70..75).contains(&t.as_secs()) {
                600.0
            } else {
                1.0
            })
        },
    )
    .await;
    assert!(run.has(|e| matches!(e, Event::RuleBreaching { .. })));
    assert!(!run.has(|e| matches!(e, Event::RuleTripped { .. })));
    let rounds = run.rounds();
    assert_eq!(rounds.len(), 2, "{rounds:?}");
    assert!(!rounds[1].1);
    assert_eq!(rounds[1].3, "abort rule `errors > 500` breached in round 2");
    assert!(run.has(|e| matches!(e, Event::StepStarted { index: 1, .. })));
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
}

#[tokio::test(start_paused = true)]
async fn a_host_in_two_rounds_has_its_first_lease_stood_down_before_the_second_is_armed() {
    let run = run_fleet_leased(&expanding("below: 100"), |_| {}, calm, true).await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    let per_round = run.intents_per_round();
    let first = per_round[0][0].clone();
    // What the host chosen in every round was sent, in order, by kind.
    let kinds: Vec<&str> = run
        .sent
        .lock()
        .unwrap()
        .iter()
        .filter(|(h, _)| *h == first)
        .map(|(_, c)| {
            if c.contains("refusing to arm") {
                "arm"
            } else if c.contains("not renewing") {
                "renew"
            } else if c.contains(": > \"$c\"") {
                "cancel"
            } else if c.starts_with("inject") {
                "inject"
            } else if c.starts_with("undo") {
                "undo"
            } else if c.starts_with("verify") {
                "verify"
            } else {
                "other"
            }
        })
        .filter(|k| *k != "renew" && *k != "other")
        .collect();
    let round = ["arm", "inject", "undo", "verify", "cancel"];
    assert_eq!(kinds, [round, round, round].concat(), "{kinds:?}");
}

#[tokio::test(start_paused = true)]
async fn a_round_waits_for_its_recovery_window_before_growing() {
    let yaml = expanding("below: 100").replace(
        "    success:\n",
        "    success:\n      - { metric: errors, below: 50, within: 30s, after: rollback, name: recovered }\n",
    );
    // Errors stay high for 10 s after round 1 is back (about 60 s in): recovery takes that long.
    let run = run_fleet(
        &yaml,
        |_| {},
        |t| {
            Ok(if (61..70).contains(&t.as_secs()) {
                80.0
            } else {
                1.0
            })
        },
    )
    .await;
    assert_eq!(run.outcome.verdict, Verdict::Held, "{}", run.outcome.reason);
    assert_eq!(run.rounds().len(), 3);
    // Round 2 starts only after round 1's recovery window passed.
    let recovered = run
        .position(|e| {
            matches!(e, Event::CriterionResult { step: 0, label, outcome: crate::event::CriterionOutcome::Passed, .. } if label == "recovered")
        })
        .unwrap();
    let round_two = run
        .position(|e| matches!(e, Event::ExpansionRoundStarted { round: 1, .. }))
        .unwrap();
    assert!(recovered < round_two);
    let t = |i: usize| (run.events[i].ts - run.events[0].ts).num_seconds();
    assert!(t(round_two) >= 70, "round 2 at {} s", t(round_two));
}
