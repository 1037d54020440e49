//! Reading, validating and importing experiments.

use super::*;

fn parse(name: &str, text: &str) -> Result<Experiment, Invalid> {
    Experiment::parse(Path::new(name), text)
}

fn first(e: Invalid) -> (u64, u64, String) {
    let d = &e.0[0];
    (d.line, d.column, d.message.clone())
}

const GOOD_YAML: &str = "title: t
description: d
configuration:
  base: http://127.0.0.1:1
  port: {type: env, key: PORT, default: 8080}
secrets:
  api: {token: {type: env, key: API_TOKEN}}
steady-state-hypothesis:
  title: up
  probes:
    - type: probe
      name: alive
      tolerance: 0
      provider: {type: process, path: sh, arguments: [-c, 'exit 0'], timeout: 5}
method:
  - type: action
    name: break
    provider: {type: process, path: sh, arguments: \"-c 'exit 1'\"}
    pauses: {before: 1, after: '${wait}'}
  - ref: alive
rollbacks:
  - type: action
    name: fix
    background: true
    provider: {type: http, url: 'http://127.0.0.1:1/fix', method: post, timeout: [1, 2]}
";

#[test]
fn a_yaml_experiment_reads_with_refs_resolved() {
    let e = parse("x.yaml", GOOD_YAML).unwrap();
    assert_eq!(e.title, "t");
    assert_eq!(
        e.secrets,
        vec![("api".into(), "token".into(), "API_TOKEN".into())]
    );
    assert_eq!(e.method.len(), 2);
    assert_eq!(e.method[1].name, "alive");
    assert_eq!((e.method[1].line, e.method[1].column), (20, 5));
    assert_eq!(e.method[0].pause_after, Some(Pause::Var("wait".into())));
    assert!(e.rollbacks[0].background);
    assert!(matches!(
        &e.rollbacks[0].provider,
        Provider::Http { method, timeout: Some(t), .. } if method == "POST" && *t == Duration::from_secs(3)
    ));
    assert!(matches!(
        &e.method[0].provider,
        Provider::Process {
            arguments: Arguments::Line(_),
            ..
        }
    ));
    assert!(is_experiment(Path::new("x.yaml"), GOOD_YAML));
    assert!(!is_experiment(Path::new("x.yaml"), "title: t\nsteps: []\n"));
}

#[test]
fn json_problems_point_at_the_key() {
    let text = "{\n  \"title\": \"t\", \"description\": \"d\",\n  \"method\": [\n    {\"type\": \"action\", \"name\": \"a\",\n     \"provider\": {\"type\": \"python\", \"module\": \"m\", \"func\": \"f\"}}\n  ],\n  \"controls\": []\n}\n";
    let e = parse("x.json", text).unwrap_err();
    let all: Vec<(u64, u64)> = e.0.iter().map(|d| (d.line, d.column)).collect();
    assert!(all.contains(&(7, 3)), "{e}");
    assert!(
        e.0.iter()
            .any(|d| d.message.contains("python providers") && d.line == 5),
        "{e}"
    );
    let syntax = parse("x.json", "{\"title\": }").unwrap_err();
    assert_eq!(first(syntax).0, 1);
}

#[test]
fn refused_features_say_where_and_what_to_do() {
    let cases = [
        (
            "title: t\ndescription: d\nmethod: []\nextensions: []\n",
            (4, 1),
            "extensions",
        ),
        (
            "title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: {type: process, path: sh, env: {}}}\n",
            (4, 65),
            "unknown key `env`",
        ),
        (
            "title: t\ndescription: d\nmethod:\n  - ref: nope\n",
            (4, 10),
            "names no activity",
        ),
        (
            "title: t\ndescription: d\nsteady-state-hypothesis:\n  title: h\n  probes:\n    - {type: probe, name: p, provider: {type: process, path: sh}, tolerance: {type: probe, name: q}}\n",
            (6, 85),
            "Python function",
        ),
        (
            "title: t\ndescription: d\nsteady-state-hypothesis:\n  title: h\n  probes:\n    - {type: probe, name: p, provider: {type: process, path: sh}, tolerance: {type: regex, pattern: '(?=x)', target: stdout}}\n",
            (6, 101),
            "Rust regex",
        ),
        (
            "title: t\ndescription: d\nmethod:\n  - {type: action, name: a, provider: {type: process, path: sh, timeout: 100000}}\n",
            (4, 74),
            "at most",
        ),
        (
            "title: t\ndescription: d\nsecrets:\n  s: {k: inline}\nmethod: []\n",
            (4, 10),
            "never written in the file",
        ),
    ];
    for (text, at, says) in cases {
        let all = parse("x.yaml", text).unwrap_err();
        let d = all.0.iter().find(|d| d.message.contains(says));
        let d = d.unwrap_or_else(|| panic!("{text}: no `{says}` in {all}"));
        let (l, col, m) = (d.line, d.column, d.message.clone());
        assert_eq!((l, col), at, "{text}: {m}");
        assert!(m.contains(says), "{m}");
    }
}

#[test]
fn import_maps_probes_actions_and_rollbacks() {
    let text = "title: t
description: d
configuration: {port: 8080}
steady-state-hypothesis:
  title: up
  probes:
    - {type: probe, name: alive, tolerance: 0, provider: {type: process, path: test, arguments: ['-e', '/tmp/x'], timeout: 5}}
    - {type: probe, name: web, tolerance: 200, provider: {type: http, url: 'http://127.0.0.1:8080/h'}}
    - {type: probe, name: text, tolerance: {type: regex, pattern: ok, target: stdout}, provider: {type: process, path: echo}}
method:
  - {type: action, name: one, provider: {type: process, path: sh, arguments: ['-c', 'echo ${port}']}}
  - {type: action, name: two, pauses: {after: 2}, provider: {type: http, url: 'http://127.0.0.1:1/x', method: POST}}
rollbacks:
  - {type: action, name: back, provider: {type: process, path: rm, arguments: ['-f', '/tmp/x']}}
";
    let out = import(&parse("x.yaml", text).unwrap());
    assert!(out.contains("probe_1: { command: \"test -e /tmp/x >/dev/null 2>&1; echo $?\", target: here, timeout: 5s }"), "{out}");
    assert!(
        out.contains("- { metric: probe_1, between: [0, 0], name: \"alive\" }"),
        "{out}"
    );
    assert!(
        out.contains("probe_2: { http: \"http://127.0.0.1:8080/h\", expect_status: 200"),
        "{out}"
    );
    assert!(out.contains("hypothesis probe `text`"), "{out}");
    assert!(out.contains("inject: \"sh -c 'echo 8080'\""), "{out}");
    assert!(
        out.contains("inject: \"curl -sS -o /dev/null -X POST http://127.0.0.1:1/x\""),
        "{out}"
    );
    // The rollbacks go with the last action; the first is irreversible.
    assert!(out.contains("irreversible: true"), "{out}");
    assert!(out.contains("rollback: \"rm -f /tmp/x\""), "{out}");
    assert!(
        out.contains("  - name: \"two\"\n    duration: 3s\n"),
        "{out}"
    );
}

#[test]
fn jsonpath_subset() {
    let v: Value = serde_json::json!({"a": [{"b": 1}, {"b": 2}], "c": {"d": "x"}});
    let m = |p: &str| {
        JsonPath::parse(p)
            .unwrap()
            .matches(&v)
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(m("$.a[*].b"), vec![Value::from(1), Value::from(2)]);
    assert_eq!(m("$['c'].d"), vec![Value::from("x")]);
    assert_eq!(m("$.a[-1].b"), vec![Value::from(2)]);
    assert!(m("$.nope").is_empty());
    assert!(JsonPath::parse("$..b").is_err());
    assert!(JsonPath::parse("$.a[?(@.b)]").is_err());
}

#[test]
fn the_default_max_duration_sums_pauses_and_timeouts() {
    let e = parse("x.yaml", GOOD_YAML).unwrap();
    let d = e.max_duration_with(|p| match p {
        Pause::Seconds(s) => Duration::from_secs_f64(*s),
        Pause::Var(_) => Duration::from_secs(2),
    });
    // probes 5 s twice, method: break 60 s default + 1 + 2 pauses, alive 5 s, fix 3 s, margin.
    assert_eq!(
        d,
        limits::CTK_MARGIN + Duration::from_secs(5 + 5 + 60 + 1 + 2 + 5 + 3)
    );
}
