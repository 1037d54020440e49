//! Validation of `blast_radius:`, `select:` and `seed:`: each problem pinned to its line and column.

use super::*;

const FLEET: &str = r#"title: Fleet
hypothesis: one web node down is invisible to users
max_duration: 20m
blast_radius: { max_hosts: 3, max_percent: 50 }
targets:
  web: { hosts: [web-01, web-02, web-03, web-04, web-05, "web-06:2222"] }
  here: { local: true }
steps:
  - name: One web node
    duration: 1m
    faults:
      - kind: command
        target: web
        inject: "x"
        rollback: "y"
        select: { count: 1, exclude: [web-01] }
        seed: 42
"#;

fn check(yaml: &str) -> Result<Scenario, Vec<Diagnostic>> {
    let dir = tempfile::tempdir().unwrap();
    Scenario::parse(&dir.path().join("s.yaml"), yaml).map_err(|e| e.0)
}

/// 1-based line and column of the first `needle` in `yaml`.
fn pos(yaml: &str, needle: &str) -> (u64, u64) {
    let i = yaml
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not in yaml"));
    let line = yaml[..i].matches('\n').count() + 1;
    let col = i - yaml[..i].rfind('\n').map_or(0, |n| n + 1) + 1;
    (line as u64, col as u64)
}

/// Exactly one problem, where `at` is in the YAML after replacing `from` by `to`, saying `needle`.
fn refused(from: &str, to: &str, at: &str, needle: &str) {
    refused_with(&[(from, to)], at, needle);
}

/// [`refused`] after several replacements.
fn refused_with(edits: &[(&str, &str)], at: &str, needle: &str) {
    let mut yaml = FLEET.to_string();
    for (from, to) in edits {
        assert!(yaml.contains(from), "{from}");
        yaml = yaml.replacen(from, to, 1);
    }
    let to = edits.last().map_or("", |e| e.1);
    let diags = check(&yaml).expect_err(&format!("{to} should be refused"));
    assert_eq!(diags.len(), 1, "{to}: {diags:#?}");
    let d = &diags[0];
    assert!(
        d.message.contains(needle),
        "`{}` lacks `{needle}`",
        d.message
    );
    assert_eq!((d.line, d.column), pos(&yaml, at), "{to}: {d}");
}

#[test]
fn a_selection_and_the_blast_radius_are_read() {
    let s = check(FLEET).unwrap();
    let sel = s.steps[0].faults[0].select.as_ref().unwrap();
    assert_eq!(sel.size, Size::Count(1));
    assert_eq!(sel.exclude, ["web-01"]);
    assert_eq!(sel.seed, Some(42));
    assert!(sel.tags.is_empty());
    assert_eq!(
        s.blast_radius,
        Some(BlastRadius {
            max_hosts: Some(3),
            max_percent: Some(50.0)
        })
    );
    assert_eq!(s.budget(), Some(3));
    assert_eq!(s.ssh_hosts().len(), 6);
    let pct = check(&FLEET.replace("count: 1,", "percent: 10,")).unwrap();
    assert_eq!(
        pct.steps[0].faults[0].select.as_ref().unwrap().size,
        Size::Percent(10.0)
    );
    // Journaled with the scenario, and read back; a journal from before selection reads as none.
    let json = serde_json::to_value(&s).unwrap();
    let back: Scenario = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back, s);
    let mut old = json;
    old.as_object_mut().unwrap().remove("blast_radius");
    old["steps"][0]["faults"][0]
        .as_object_mut()
        .unwrap()
        .remove("select");
    let old: Scenario = serde_json::from_value(old).unwrap();
    assert_eq!(old.blast_radius, None);
    assert_eq!(old.steps[0].faults[0].select, None);
}

#[test]
fn sizes_are_bounded() {
    refused("count: 1,", "count: 0,", "0,", "count must be from 1");
    refused("count: 1,", "count: -3,", "-3,", "count must be from 1");
    refused(
        "count: 1,",
        "percent: 0,",
        "0,",
        "percent must be more than 0",
    );
    refused("count: 1,", "percent: 100.5,", "100.5", "at most 100");
    refused("count: 1,", "percent: .nan,", ".nan", "percent must be");
    refused(
        "count: 1,",
        "count: 1, percent: 5,",
        "{ count",
        "exactly one of `count:`",
    );
    refused(
        "{ count: 1, exclude: [web-01] }",
        "{ exclude: [web-01] }",
        "{ exclude",
        "exactly one of `count:`",
    );
    refused(
        "max_hosts: 3",
        "max_hosts: 0",
        "0, max_percent",
        "max_hosts must be from 1",
    );
    refused(
        "max_percent: 50",
        "max_percent: 0",
        "0 }",
        "max_percent must be more than 0",
    );
    refused(
        "{ max_hosts: 3, max_percent: 50 }",
        "{}",
        "{}",
        "blast_radius needs",
    );
}

#[test]
fn exclusions_and_tags_must_name_hosts() {
    refused(
        "exclude: [web-01]",
        "exclude: [web-01, web-99]",
        "web-99",
        "exclude `web-99` names no host of target `web`",
    );
    // By address too, the port included.
    check(&FLEET.replace("exclude: [web-01]", "exclude: [\"web-06:2222\", web-02:22]")).unwrap();
    refused(
        "exclude: [web-01]",
        "exclude: [web-06]",
        "web-06]",
        "names no host",
    );
    refused(
        "exclude: [web-01]",
        "tags: { zone: a }",
        "{ zone",
        "no host of target `web` has every tag zone=a",
    );
    refused(
        "exclude: [web-01]",
        "exclude: [web-01, web-02, web-03, web-04, web-05, \"web-06:2222\"]",
        "{ count",
        "no host of target `web` is left to choose from",
    );
    refused(
        "count: 1, exclude: [web-01]",
        "count: 6, exclude: [web-01]",
        "{ count",
        "count 6 but target `web` has only 5 candidate",
    );
    refused(
        "target: web",
        "target: here",
        "{ count",
        "select chooses among SSH hosts",
    );
    assert!(check(&FLEET.replace("seed: 42", "seed: -1")).is_err());
    refused(
        "        select: { count: 1, exclude: [web-01] }\n        seed: 42\n",
        "        seed: 42\n",
        "42",
        "`seed:` is the seed of `select:`",
    );
}

#[test]
fn a_selection_that_can_never_fit_the_budget_is_refused() {
    refused(
        "count: 1,",
        "count: 4,",
        "{ count",
        "faults 4 host(s) at once, but the blast radius allows 3 host(s)",
    );
    // 50 % of 6 SSH hosts is 3: with max_hosts 10 the percent is the bound.
    refused_with(
        &[
            (
                "max_hosts: 3, max_percent: 50",
                "max_hosts: 10, max_percent: 50",
            ),
            ("count: 1,", "count: 4,"),
        ],
        "{ count",
        "allows 3 host(s) faulted at once (max_hosts 10, max_percent 50 of 6 SSH host(s))",
    );
    // 10 % of 6 rounds down to none.
    refused(
        "max_hosts: 3, max_percent: 50",
        "max_percent: 10",
        "{ count",
        "allows 0 host(s)",
    );
    // Without `select:` a fault goes to every host of its target.
    refused(
        "        select: { count: 1, exclude: [web-01] }\n        seed: 42\n",
        "",
        "kind: command",
        "faults 6 host(s) at once",
    );
    // Each fault fits alone, but a step's faults are live at once.
    let second = "      - { kind: command, id: two, target: web, inject: a, rollback: b, select: { count: 3 } }\n";
    refused(
        "        seed: 42\n",
        &format!("        seed: 42\n{second}"),
        "name: One web node",
        "step `One web node`: its faults are live at once on up to 4 host(s) (s1f1 on 1, two on 3)",
    );
}

const GROWING: &str = r#"title: Grow
hypothesis: h
max_duration: 4m
blast_radius: { max_hosts: 5 }
targets:
  here: { local: true }
  web: { hosts: [web-01, web-02, web-03, web-04, web-05, web-06, web-07, web-08, web-09, web-10] }
steps:
  - name: Grow
    duration: 1m
    expand: [1, 30%, 50%]
    faults:
      - { kind: command, target: web, inject: x, rollback: y, select: { exclude: [web-01] }, seed: 3 }
"#;

fn refused_growing(from: &str, to: &str, at: &str, needle: &str) {
    assert!(GROWING.contains(from), "{from}");
    let yaml = GROWING.replacen(from, to, 1);
    let diags = check(&yaml).expect_err(&format!("{to} should be refused"));
    assert!(
        diags
            .iter()
            .any(|d| d.message.contains(needle) && (d.line, d.column) == pos(&yaml, at)),
        "no `{needle}` at {at}: {diags:#?}"
    );
}

#[test]
fn expand_is_read_and_every_round_counts_against_max_duration() {
    let s = check(GROWING).unwrap();
    let step = &s.steps[0];
    assert_eq!(
        step.expand,
        [Size::Count(1), Size::Percent(30.0), Size::Percent(50.0)]
    );
    assert_eq!(step.rounds(), 3);
    assert_eq!(s.planned_duration(), Duration::from_secs(180));
    let sel = step.faults[0].select.as_ref().unwrap();
    assert_eq!((sel.seed, sel.exclude.len()), (Some(3), 1));
    // Without `select:` an expanding step chooses among all of the target's hosts.
    let plain = check(&GROWING.replace(", select: { exclude: [web-01] }", "")).unwrap();
    assert!(plain.steps[0].faults[0].select.is_some());
    refused_growing(
        "max_duration: 4m",
        "max_duration: 2m",
        "2m",
        "steps add up to 3m which is more than max_duration 2m",
    );
}

#[test]
fn bad_expansions_are_pinned_to_their_place() {
    refused_growing("[1, 30%, 50%]", "[1, 30%, 20%]", "20%", "sizes must grow");
    // 10 % of 9 candidates is 1, the same as the round before.
    refused_growing(
        "[1, 30%, 50%]",
        "[1, 10%, 50%]",
        "10%",
        "not more than the round before (1)",
    );
    refused_growing(
        "[1, 30%, 50%]",
        "[1, 30%, 12]",
        "12",
        "more than the 9 candidate host(s)",
    );
    refused_growing(
        "[1, 30%, 50%]",
        "[1, 0%, 50%]",
        "0%",
        "expand size `0%` must be",
    );
    refused_growing(
        "[1, 30%, 50%]",
        "[1, lots]",
        "lots",
        "must be a count from 1",
    );
    refused_growing("[1, 30%, 50%]", "[]", "[]", "expand takes 1 to 10 sizes");
    refused_growing(
        "select: { exclude: [web-01] }",
        "select: { count: 2 }",
        "{ count",
        "the step's `expand:` sets each round's size",
    );
    // The last round must fit the blast radius: 50 % of 9 is 5, 60 % is 6.
    refused_growing(
        "[1, 30%, 50%]",
        "[1, 30%, 60%]",
        "{ exclude",
        "faults 6 host(s) at once",
    );
    refused_growing(
        "target: web, inject",
        "target: here, inject",
        "[1, 30%",
        "no fault of the step is on an SSH target",
    );
}

#[test]
fn a_bad_selection_in_an_expanding_step_is_reported_once() {
    let yaml = GROWING.replace("exclude: [web-01]", "exclude: [web-99]");
    let diags = check(&yaml).expect_err("web-99 is no host");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(diags[0].message.contains("exclude `web-99` names no host"));
}

#[test]
fn tag_values_written_as_numbers_or_booleans_read_as_text() {
    let diags = check(&FLEET.replace("exclude: [web-01]", "tags: { rack: 3, canary: true }"))
        .expect_err("no host has these tags");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0]
            .message
            .contains("has every tag canary=true, rack=3"),
        "{}",
        diags[0].message
    );
}
