//! Inventory parsing: INI and YAML, children, vars and their precedence, ranges, and every refusal
//! pinned to the inventory's line (and column).

use super::*;
use crate::scenario::{Scenario, Transport};

fn ini(text: &str) -> Result<Inventory, Vec<Diagnostic>> {
    Inventory::parse_ini(Path::new("prod.ini"), text)
}

fn yaml(text: &str) -> Result<Inventory, Vec<Diagnostic>> {
    Inventory::parse_yaml(Path::new("prod.yml"), text)
}

fn one_error<T: std::fmt::Debug>(r: Result<T, Vec<Diagnostic>>) -> Diagnostic {
    let diags = r.expect_err("should be refused");
    assert_eq!(diags.len(), 1, "{diags:#?}");
    diags.into_iter().next().unwrap()
}

fn by_name(hosts: &[HostAddr]) -> BTreeMap<String, &HostAddr> {
    hosts.iter().map(|h| (h.label(), h)).collect()
}

const PROD_INI: &str = r#"
bastion.example.com

[web]
web-1 ansible_host=10.0.0.11 zone=a
web-2 ansible_host=10.0.0.12 ansible_port=2222 zone=b tier="front end"
web-3.example.com:2200

[db]
db[01:03].example.com ansible_user=postgres

[web:vars]
zone=z
role=web
ansible_user=deploy
ansible_password=hunter2
db_password=s3cret
api_token=abc

[prod:children]
web
db

[prod:vars]
env=prod
role=generic
"#;

#[test]
fn ini_groups_host_vars_ports_and_connection_variables() {
    let inv = ini(PROD_INI).unwrap();
    let web = inv.hosts("web", false).unwrap();
    assert_eq!(web.len(), 3);
    let names = by_name(&web);
    let w1 = names["web-1"];
    assert_eq!((w1.host.as_str(), w1.port), ("10.0.0.11", 22));
    assert_eq!(w1.user.as_deref(), Some("deploy"));
    // Host var over group var, child group over parent group.
    assert_eq!(w1.tags["zone"], "a");
    assert_eq!(w1.tags["role"], "web");
    assert_eq!(w1.tags["env"], "prod");
    // Connection variables and secrets never become tags.
    for k in [
        "ansible_host",
        "ansible_user",
        "ansible_password",
        "db_password",
        "api_token",
    ] {
        assert!(!w1.tags.contains_key(k), "{k} leaked into tags");
    }
    let w2 = names["web-2"];
    assert_eq!((w2.host.as_str(), w2.port), ("10.0.0.12", 2222));
    assert_eq!(w2.tags["tier"], "front end");
    let w3 = web.iter().find(|h| h.host == "web-3.example.com").unwrap();
    assert_eq!(w3.port, 2200);
    assert_eq!(w3.tags["zone"], "z");
    assert_eq!(w3.name.as_deref(), Some("web-3.example.com"));
}

#[test]
fn ini_ranges_children_all_and_ungrouped() {
    let inv = ini(PROD_INI).unwrap();
    let db = inv.hosts("db", false).unwrap();
    let hosts: Vec<&str> = db.iter().map(|h| h.host.as_str()).collect();
    assert_eq!(
        hosts,
        ["db01.example.com", "db02.example.com", "db03.example.com"]
    );
    assert!(db.iter().all(|h| h.user.as_deref() == Some("postgres")));
    assert!(db.iter().all(|h| h.name.is_none()), "name = address");
    assert!(db.iter().all(|h| h.tags["role"] == "generic"));
    assert_eq!(inv.hosts("prod", false).unwrap().len(), 6);
    assert_eq!(inv.hosts("all", false).unwrap().len(), 7);
    let ungrouped = inv.hosts("ungrouped", false).unwrap();
    assert_eq!(ungrouped.len(), 1);
    assert_eq!(ungrouped[0].host, "bastion.example.com");
}

#[test]
fn ini_comments_after_host_vars_are_comments() {
    let inv = ini("[web]\nweb-1 zone=a # the primary\n; a comment\n[web:vars]\n# x=1\n").unwrap();
    let web = inv.hosts("web", false).unwrap();
    assert_eq!(web[0].tags.len(), 1, "{:?}", web[0].tags);
    assert_eq!(web[0].tags["zone"], "a");
}

#[test]
fn ranges_pad_step_and_letters() {
    assert_eq!(expand("w[08:10]").unwrap(), ["w08", "w09", "w10"]);
    assert_eq!(expand("w[1:5:2]").unwrap(), ["w1", "w3", "w5"]);
    assert_eq!(
        expand("db-[a:c].x").unwrap(),
        ["db-a.x", "db-b.x", "db-c.x"]
    );
    assert_eq!(
        expand("r[1:2]c[1:2]").unwrap(),
        ["r1c1", "r1c2", "r2c1", "r2c2"]
    );
    assert!(expand("w[3:1]").unwrap_err().contains("START ≤ END"));
    assert!(expand("w[1:999999999]").is_err());
    assert!(expand("w[1:3").unwrap_err().contains("closing"));
}

const PROD_YAML: &str = r#"all:
  vars:
    env: prod
  hosts:
    bastion:
      ansible_host: 10.0.0.1
  children:
    web:
      vars:
        role: web
        replicas: 3
        packages: [nginx, curl]
      hosts:
        web-1:
          ansible_host: 10.0.0.11
          ansible_port: 2201
          canary: true
        web-[2:3]:
    edge:
      children:
        web:
      vars:
        role: edge
        env: edge
"#;

#[test]
fn yaml_groups_children_and_vars() {
    let inv = yaml(PROD_YAML).unwrap();
    let web = inv.hosts("web", false).unwrap();
    assert_eq!(web.len(), 3);
    let names = by_name(&web);
    let w1 = names["web-1"];
    assert_eq!((w1.host.as_str(), w1.port), ("10.0.0.11", 2201));
    assert_eq!(w1.tags["canary"], "true");
    assert_eq!(w1.tags["replicas"], "3");
    // web is a child of edge: web's vars win over edge's, edge's over all's.
    assert_eq!(w1.tags["role"], "web");
    assert_eq!(w1.tags["env"], "edge");
    // A list is not a tag.
    assert!(!w1.tags.contains_key("packages"));
    assert!(names.contains_key("web-2") && names.contains_key("web-3"));
    assert_eq!(inv.hosts("edge", false).unwrap().len(), 3);
    let ungrouped = inv.hosts("ungrouped", false).unwrap();
    assert_eq!(ungrouped.len(), 1);
    assert_eq!(ungrouped[0].label(), "bastion");
    assert_eq!(ungrouped[0].tags["env"], "prod");
}

#[test]
fn a_malformed_ini_file_is_refused_at_its_line() {
    let d = one_error(ini("[web]\nweb-1\n[web\nweb-2\n"));
    assert_eq!((d.line, d.column), (3, 1));
    assert!(d.message.contains("closing `]`"), "{d}");
    assert!(d.to_string().starts_with("prod.ini:3:1: "), "{d}");
    let d = one_error(ini("[web]\n  web-1 zone\n"));
    assert_eq!((d.line, d.column), (2, 9), "{d}");
    assert!(d.message.contains("key=value"), "{d}");
    let d = one_error(ini("[web:hosts]\n"));
    assert!(d.message.contains("not a section kind"), "{d}");
    let d = one_error(ini("[web]\nweb-1 note=\"open\n"));
    assert_eq!(d.line, 2);
    assert!(d.message.contains("quotes"), "{d}");
}

#[test]
fn a_malformed_yaml_file_is_refused_at_its_line() {
    let d = one_error(yaml("all:\n  hosts:\n    web-1:\n  chlidren:\n    db:\n"));
    assert_eq!(d.line, 4, "{d}");
    assert!(d.message.contains("chlidren"), "{d}");
    assert!(d.to_string().starts_with("prod.yml:4:"), "{d}");
}

#[test]
fn a_cycle_in_children_is_refused_where_it_closes() {
    let d = one_error(ini("[a:children]\nb\n[b:children]\nc\n[c:children]\na\n"));
    assert!(d.message.contains("a → b → c → a"), "{d}");
    assert_eq!(d.line, 6, "{d}");
    let d = one_error(yaml(
        "all:\n  children:\n    a:\n      children:\n        a:\n",
    ));
    assert!(d.message.contains("a → a"), "{d}");
}

#[test]
fn vaulted_values_and_dynamic_sources_are_refused_with_what_to_do() {
    let d = one_error(ini(
        "[web]\nweb-1\n[web:vars]\nansible_become_pass=$ANSIBLE_VAULT;1.1;AES256\n",
    ));
    assert_eq!(d.line, 4);
    assert!(
        d.message.contains("vaulted") && d.message.contains("ansible-inventory"),
        "{d}"
    );
    let d = one_error(yaml(
        "all:\n  vars:\n    token: !vault |\n      $ANSIBLE_VAULT;1.1;AES256\n      6162\n",
    ));
    assert!(d.message.contains("vaulted"), "{d}");
    assert_eq!(d.line, 4, "{d}"); // where the vaulted text starts
    let d = one_error(yaml(
        "{\n  \"_meta\": { \"hostvars\": {} },\n  \"all\": { \"children\": [\"web\"] }\n}\n",
    ));
    assert!(d.message.contains("--list` JSON") && d.line == 2, "{d}");
    let d = one_error(yaml("plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n"));
    assert!(d.message.contains("plugins are not run"), "{d}");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("ec2.py");
    std::fs::write(&script, "#!/usr/bin/env python3\nprint('{}')\n").unwrap();
    let d = one_error(Inventory::load(&script));
    assert!(d.message.contains("dynamic inventory scripts"), "{d}");
}

#[test]
fn unsupported_connection_variables_are_refused_for_the_hosts_taken() {
    let inv = ini(
        "[web]\nweb-1 ansible_ssh_private_key_file=~/.ssh/web\n[local]\nlocalhost ansible_connection=local\n[db]\ndb-1 ansible_port=99999\n",
    )
    .unwrap();
    let d = one_error(inv.hosts("web", false));
    assert!(d.message.contains("set `identity:`"), "{d}");
    assert_eq!((d.line, d.column), (2, 7));
    // The target's own `identity` stands for the key file.
    assert_eq!(inv.hosts("web", true).unwrap().len(), 1);
    let d = one_error(inv.hosts("local", false));
    assert!(d.message.contains("ansible_connection=local"), "{d}");
    let d = one_error(inv.hosts("db", false));
    assert!(d.message.contains("1 to 65535"), "{d}");
    let inv = ini("[web]\nweb-1 ansible_host=10.0.0.1\nweb-2 ansible_host=10.0.0.1\n").unwrap();
    let d = one_error(inv.hosts("web", false));
    assert!(d.message.contains("both reach 10.0.0.1"), "{d}");
}

fn scenario_with(target: &str, inventory: (&str, &str)) -> Result<Scenario, Vec<Diagnostic>> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("scenarios")).unwrap();
    std::fs::create_dir_all(dir.path().join("inventories")).unwrap();
    std::fs::write(
        dir.path().join("inventories").join(inventory.0),
        inventory.1,
    )
    .unwrap();
    let yaml = format!(
        "title: t\nhypothesis: h\nmax_duration: 5m\ntargets:\n  web: {target}\nsteps:\n  - {{ name: s, duration: 1m }}\n"
    );
    let path = dir.path().join("scenarios/s.yaml");
    Scenario::parse(&path, &yaml).map_err(|e| e.0)
}

#[test]
fn a_scenario_target_takes_an_inventory_group_and_its_user_overrides() {
    let s = scenario_with(
        "{ inventory: inventories/prod.ini, group: web, user: chaos, sudo: true }",
        ("prod.ini", PROD_INI),
    )
    .unwrap();
    let Transport::Ssh { hosts, user, .. } = &s.targets["web"].transport else {
        panic!("ssh target");
    };
    assert_eq!(hosts.len(), 3);
    assert_eq!(user.as_deref(), Some("chaos"));
    assert_eq!(hosts[0].tags["env"], "prod");
    let s = scenario_with(
        "{ inventory: inventories/prod.yml, group: all }",
        ("prod.yml", PROD_YAML),
    )
    .unwrap();
    let Transport::Ssh { hosts, .. } = &s.targets["web"].transport else {
        panic!("ssh target");
    };
    assert_eq!(hosts.len(), 4);
}

#[test]
fn an_unknown_group_is_refused_at_the_scenario_line_with_the_groups_known() {
    let diags = scenario_with(
        "{ inventory: inventories/prod.ini, group: wbe }",
        ("prod.ini", PROD_INI),
    )
    .unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    let d = &diags[0];
    assert!(d.file.ends_with("scenarios/s.yaml"), "{d}");
    assert_eq!(d.line, 5, "{d}");
    assert!(
        d.message.contains("no group `wbe`") && d.message.contains("web"),
        "{d}"
    );
    let diags = scenario_with(
        "{ inventory: inventories/nope.ini, group: web }",
        ("prod.ini", PROD_INI),
    )
    .unwrap_err();
    assert!(diags[0].message.contains("not found"), "{diags:#?}");
    let diags = scenario_with(
        "{ inventory: inventories/prod.ini, group: web, hosts: [a] }",
        ("prod.ini", PROD_INI),
    )
    .unwrap_err();
    assert!(diags[0].message.contains("not both"), "{diags:#?}");
}

#[test]
fn inventory_errors_name_the_inventory_file() {
    let diags = scenario_with(
        "{ inventory: inventories/prod.ini, group: web }",
        ("prod.ini", "[web]\nweb-1\n[web:vars]\nbroken\n"),
    )
    .unwrap_err();
    assert_eq!(diags.len(), 1, "{diags:#?}");
    assert!(
        diags[0].file.ends_with("inventories/prod.ini"),
        "{}",
        diags[0]
    );
    assert_eq!(diags[0].line, 4);
}
