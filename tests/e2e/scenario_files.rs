//! Every scenario shipped in `scenarios/` validates, and every runbook has the anchors steps link to.

use std::path::Path;

use gameday::scenario::{Scenario, markdown_anchors};

#[test]
fn every_shipped_scenario_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut n = 0;
    for dir in [root.clone(), root.join("templates")] {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                n += 1;
                if let Err(e) = Scenario::load(&path) {
                    panic!("{e}");
                }
            }
        }
    }
    assert!(n >= 14, "expected the demos and the templates, found {n}");
}

#[test]
fn every_runbook_has_the_standard_sections() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let anchors = markdown_anchors(&std::fs::read_to_string(&path).unwrap());
        for a in ["symptoms", "dashboards", "diagnose", "mitigate", "rollback"] {
            assert!(anchors.contains(a), "{} lacks ## {a}", path.display());
        }
    }
}

#[test]
fn the_readme_example_validates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("title: Checkout survives a slow database")
        .expect("README has the example");
    let end = start + readme[start..].find("```").unwrap();
    // Parsed as if it lived in scenarios/, so its runbook links resolve like a real scenario's.
    let as_if = root.join("scenarios/readme-example.yaml");
    if let Err(e) = Scenario::parse(&as_if, &readme[start..end]) {
        panic!("{e}");
    }
}

/// Every shipped game-day plan validates (its scenarios and demos included).
#[test]
fn every_shipped_plan_validates() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let demos = gameday::day::demo_names();
    let mut n = 0;
    for e in std::fs::read_dir(root.join("gamedays")).expect("gamedays/") {
        let path = e.expect("entry").path();
        if path.extension().is_some_and(|x| x == "yaml") {
            if let Err(invalid) = gameday::scenario::plan::Plan::load(&path, &demos) {
                panic!("{invalid}");
            }
            n += 1;
        }
    }
    assert!(n > 0, "no plan in gamedays/");
}
