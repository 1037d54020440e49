//! Abort-rule options as the scenario file states them: `clear_after` (consecutive good samples
//! that clear a breach) is bounded and located like every other field.

use std::path::Path;

use gameday::scenario::{DEFAULT_CLEAR_AFTER, Rule, Scenario};

fn parse(abort: &str) -> Result<Scenario, String> {
    let yaml = crate::fake_server::scenario_yaml("{ http: 'http://127.0.0.1:9/' }", abort, 10);
    Scenario::parse(Path::new("r.yaml"), &yaml).map_err(|e| e.to_string())
}

#[test]
fn clear_after_defaults_to_two_and_is_read() {
    let s = parse("{ metric: m, above: 1, for: 30s }").unwrap();
    assert_eq!(s.abort[0].clear_after, DEFAULT_CLEAR_AFTER);
    assert_eq!(DEFAULT_CLEAR_AFTER, 2);
    let s = parse("{ metric: m, above: 1, for: 30s, clear_after: 5 }").unwrap();
    assert_eq!(s.abort[0].clear_after, 5);
    for edge in [1, 100] {
        let s = parse(&format!("{{ metric: m, above: 1, clear_after: {edge} }}")).unwrap();
        assert_eq!(s.abort[0].clear_after, edge);
    }
}

#[test]
fn clear_after_out_of_bounds_is_located() {
    // Where the value stands in the generated file: FILE:LINE:COLUMN of its first character.
    let at = |abort: &str| {
        let yaml = crate::fake_server::scenario_yaml("{ http: 'http://127.0.0.1:9/' }", abort, 10);
        let (i, line) = yaml
            .lines()
            .enumerate()
            .find(|(_, l)| l.contains("clear_after"))
            .unwrap();
        let col = line.find("clear_after: ").unwrap() + "clear_after: ".len() + 1;
        format!("r.yaml:{}:{col}:", i + 1)
    };
    for bad in ["0", "101", "-1", "4294967297"] {
        let abort = format!("{{ metric: m, above: 1, clear_after: {bad} }}");
        let e = parse(&abort).unwrap_err();
        assert!(
            e.contains(&at(&abort)) && e.contains("clear_after must be between 1 and 100"),
            "{bad}: {e}"
        );
    }
    let e = parse("{ metric: m, above: 1, clear_after: two }").unwrap_err();
    assert!(e.contains("r.yaml:9:"), "{e}");
}

#[test]
fn steady_state_rules_take_no_clear_after() {
    let yaml = crate::fake_server::scenario_yaml(
        "{ http: 'http://127.0.0.1:9/' }",
        "{ metric: m, above: 1 }",
        10,
    )
    .replace(
        "abort:\n",
        "steady_state:\n  - { metric: m, below: 1, clear_after: 3 }\nabort:\n",
    );
    let e = Scenario::parse(Path::new("r.yaml"), &yaml)
        .unwrap_err()
        .to_string();
    assert!(e.contains("clear_after"), "{e}");
}

/// A journal written before `clear_after` existed still loads, with the default.
#[test]
fn old_journals_read_the_default() {
    let old = r#"{"kind":"abort","label":"m > 1","metric":"m","condition":{"above":1.0},"sustained":30000,"no_data":"breach"}"#;
    let r: Rule = serde_json::from_str(old).unwrap();
    assert_eq!(r.clear_after, DEFAULT_CLEAR_AFTER);
}
