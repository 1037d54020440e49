//! Blast radius and host selection: which of a target's hosts a fault goes to, and how many hosts
//! may be faulted at once. Pure functions of the scenario's hosts and a seed, shared by validation
//! (which proves a selection can fit) and the engine (which makes it, and journals it first).
//!
//! The random choice is a seeded permutation of the candidates sorted by address (splitmix64 +
//! Fisher–Yates, written out here so that a journaled seed gives the same hosts in every version of
//! gameday: `rand`'s generators promise no such thing across releases). A size is a prefix of that
//! permutation, so a larger size with the same seed is a superset of a smaller one (progressive
//! expansion relies on it).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use serde_saphyr::{Location, Spanned};

use super::spec::{BlastRadiusSpec, FaultSpec, SizeSpec};
use super::{HostAddr, Scenario, Target, Transport, Validator, limits};

/// How many hosts: a count, or a percent of the candidates (rounded up, at least 1).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Size {
    Count(u32),
    Percent(f64),
}

impl Size {
    /// Hosts of `candidates` this size stands for: a count as written, a percent rounded up and at
    /// least 1. Never more than `candidates` for a percent; a count may ask for more (validation
    /// refuses that).
    pub fn of(self, candidates: usize) -> usize {
        match self {
            Size::Count(n) => usize::try_from(n).unwrap_or(usize::MAX),
            Size::Percent(p) => percent_of(p, candidates, Round::Up).clamp(1, candidates.max(1)),
        }
    }
}

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Size::Count(n) => write!(f, "{n}"),
            Size::Percent(p) => write!(f, "{p} %"),
        }
    }
}

#[derive(Clone, Copy)]
enum Round {
    Up,
    Down,
}

/// `p` percent of `n`, rounded as asked; a result within 1e-9 of a whole number is that number
/// (10 % of 30 is 3, not 4 because of 3.0000000000000004).
fn percent_of(p: f64, n: usize, round: Round) -> usize {
    let x = p * n as f64 / 100.0;
    let whole = x.round();
    let r = if (x - whole).abs() < 1e-9 {
        whole
    } else {
        match round {
            Round::Up => x.ceil(),
            Round::Down => x.floor(),
        }
    };
    // `as` saturates: a negative or NaN value (never validated through) is 0.
    r as usize
}

/// A fault's `select:`: which hosts of its target are candidates, and how many of them it goes to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Selection {
    pub size: Size,
    /// Every one must match a host's tag exactly.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Host names as written, or addresses, never chosen.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// The seed of the random choice; without one the engine draws a fresh seed and journals it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl Selection {
    /// The hosts that may be chosen, sorted by address: every `tags` entry matches, no `exclude`
    /// entry names it.
    pub fn candidates(&self, hosts: &[HostAddr]) -> Vec<HostAddr> {
        let set: BTreeSet<&HostAddr> = hosts
            .iter()
            .filter(|h| self.tags.iter().all(|(k, v)| h.tags.get(k) == Some(v)))
            .filter(|h| !self.exclude.iter().any(|e| names(h, e)))
            .collect();
        set.into_iter().cloned().collect()
    }
}

/// Whether `entry` (of an `exclude:` list) names `host`: its name as written, its address as
/// printed (`db-1`, `db-1:2222`), or the same address written another way.
pub fn names(host: &HostAddr, entry: &str) -> bool {
    host.name.as_deref() == Some(entry)
        || host.to_string() == entry
        || super::parse_host(entry).is_ok_and(|a| &a == host)
}

/// `blast_radius:`: the most hosts faulted at once across the run, as a count and as a percent of
/// every SSH host of every target. Either or both.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BlastRadius {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_hosts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_percent: Option<f64>,
}

impl BlastRadius {
    /// Hosts that may be faulted at once out of `ssh_hosts`: the smaller bound, a percent rounded
    /// down (25 % of 10 hosts is 2: rounding up would exceed the percent written).
    pub fn budget(&self, ssh_hosts: usize) -> usize {
        let by_count = self
            .max_hosts
            .map_or(usize::MAX, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let by_percent = self
            .max_percent
            .map_or(usize::MAX, |p| percent_of(p, ssh_hosts, Round::Down));
        by_count.min(by_percent)
    }
}

impl Scenario {
    /// Every SSH host of every target, once each (what `max_percent` is a percent of).
    pub fn ssh_hosts(&self) -> BTreeSet<&HostAddr> {
        self.targets
            .values()
            .flat_map(|t| match &t.transport {
                Transport::Ssh { hosts, .. } => hosts.as_slice(),
                Transport::Local => &[],
            })
            .collect()
    }

    /// The run's blast-radius budget (hosts faulted at once), when the scenario sets one.
    pub fn budget(&self) -> Option<usize> {
        self.blast_radius.map(|b| b.budget(self.ssh_hosts().len()))
    }

    /// The hosts of target `name` (empty for a local or unknown target).
    pub fn target_hosts(&self, name: &str) -> &[HostAddr] {
        match self.targets.get(name).map(|t| &t.transport) {
            Some(Transport::Ssh { hosts, .. }) => hosts,
            _ => &[],
        }
    }
}

/// A choice made: the candidates (sorted), the chosen hosts (sorted), the seed it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Chosen {
    pub seed: u64,
    pub candidates: Vec<HostAddr>,
    pub chosen: Vec<HostAddr>,
}

/// Chooses `n` of `candidates` (sorted first, so the order they come in does not matter) at random
/// with `seed`: the first `n` of the seeded permutation, returned sorted. The same seed and
/// candidates give the same hosts; a larger `n` gives a superset.
pub fn choose(candidates: &[HostAddr], n: usize, seed: u64) -> Chosen {
    let sorted: Vec<HostAddr> = candidates
        .iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .cloned()
        .collect();
    let order = permutation(sorted.len(), seed);
    let mut chosen: Vec<HostAddr> = order
        .into_iter()
        .take(n)
        .map(|i| sorted[i].clone())
        .collect();
    chosen.sort();
    Chosen {
        seed,
        candidates: sorted,
        chosen,
    }
}

/// A permutation of `0..len` drawn with `seed`: Fisher–Yates, from the last position down, each
/// index from splitmix64 reduced by Lemire's multiply-shift (bias below 2^-32 for any list a
/// scenario can hold).
fn permutation(len: usize, seed: u64) -> Vec<usize> {
    let mut rng = SplitMix64(seed);
    let mut v: Vec<usize> = (0..len).collect();
    for i in (1..len).rev() {
        let bound = (i as u64).saturating_add(1);
        let j = ((u128::from(rng.next()) * u128::from(bound)) >> 64) as usize;
        v.swap(i, j);
    }
    v
}

/// splitmix64 (Steele, Lea, Flood 2014; the constants of Vigna's reference code): a small,
/// well-mixed generator whose every output is a fixed function of the seed.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// A fresh seed for a selection without one: the standard library's per-process random hash keys
/// mixed with the time. Not for secrets; only so that runs without a seed differ. It is journaled.
pub fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    SplitMix64(h.finish()).next()
}

/// How many hosts one fault of a step faults at once, and where the scenario says so: what the
/// budget check adds up.
pub(super) struct AtOnce {
    pub step: usize,
    pub fault: String,
    pub hosts: usize,
    pub at: Location,
}

impl Validator {
    /// `blast_radius:`: at least one bound, each within its limits.
    pub(super) fn blast_radius(&mut self, b: &Spanned<BlastRadiusSpec>) -> Option<BlastRadius> {
        let spec = &b.value;
        let mut ok = true;
        if spec.max_hosts.is_none() && spec.max_percent.is_none() {
            self.err(
                &b.referenced,
                "blast_radius needs `max_hosts:` (hosts faulted at once), `max_percent:` (percent of every SSH host) or both",
            );
            ok = false;
        }
        let max_hosts = spec.max_hosts.as_ref().and_then(|n| {
            let v = u32::try_from(n.value)
                .ok()
                .filter(|v| (1..=limits::MAX_SELECT_HOSTS).contains(v));
            if v.is_none() {
                self.err(
                    &n.referenced,
                    format!(
                        "blast_radius: max_hosts must be from 1 to {}, got {}",
                        limits::MAX_SELECT_HOSTS,
                        n.value
                    ),
                );
                ok = false;
            }
            v
        });
        let max_percent = spec.max_percent.as_ref().and_then(|p| {
            let v = Some(p.value).filter(|v| *v > 0.0 && *v <= 100.0);
            if v.is_none() {
                self.err(
                    &p.referenced,
                    format!(
                        "blast_radius: max_percent must be more than 0 and at most 100, got {}",
                        p.value
                    ),
                );
                ok = false;
            }
            v
        });
        ok.then_some(BlastRadius {
            max_hosts,
            max_percent,
        })
    }

    /// A fault's `select:` (and `seed:`) against its target's hosts: a size within bounds, tags
    /// and exclusions that name hosts, candidates left to choose from. `Err(())` when it is
    /// invalid (already reported); `Ok(None)` without a `select:`.
    /// Also returns how many hosts the fault faults at once (in an expanding step: in its last
    /// round). `expand` is the step's sizes with where each is written.
    pub(super) fn selection(
        &mut self,
        id: &str,
        fs: &FaultSpec,
        target: Option<&Target>,
        expand: &[(Size, Location)],
    ) -> Result<(Option<Selection>, usize), ()> {
        let ssh_hosts = match target.map(|t| &t.transport) {
            Some(Transport::Ssh { hosts, .. }) => Some(hosts.as_slice()),
            _ => None,
        };
        let Some(sel) = &fs.select else {
            if let Some(seed) = &fs.seed
                && (expand.is_empty() || ssh_hosts.is_none())
            {
                self.err(
                    &seed.referenced,
                    format!("fault `{id}`: `seed:` is the seed of `select:` (or of the step's `expand:`), which this fault does not have"),
                );
                return Err(());
            }
            return match ssh_hosts {
                None => Ok((None, 0)),
                Some(hosts) if expand.is_empty() => Ok((None, hosts.len())),
                // An expanding step chooses among all of the target's hosts.
                Some(hosts) => {
                    let last = self.rounds_grow(id, hosts.len(), expand)?;
                    Ok((
                        Some(Selection {
                            size: expand[0].0,
                            tags: BTreeMap::new(),
                            exclude: Vec::new(),
                            seed: fs.seed.as_ref().map(|s| s.value),
                        }),
                        last,
                    ))
                }
            };
        };
        let (at, spec) = (&sel.referenced, &sel.value);
        let what = format!("fault `{id}`: select");
        let hosts = match target.map(|t| &t.transport) {
            Some(Transport::Ssh { hosts, .. }) => hosts,
            Some(Transport::Local) => {
                self.err(
                    at,
                    format!("{what}: target `{}` is this machine (local: true); select chooses among SSH hosts", fs.target.value),
                );
                return Err(());
            }
            // The undefined target is reported where it is named.
            None => return Err(()),
        };
        let size = match (&spec.count, &spec.percent) {
            (None, None) if !expand.is_empty() => expand[0].0,
            (Some(_), _) | (_, Some(_)) if !expand.is_empty() => {
                self.err(
                    at,
                    format!("{what}: the step's `expand:` sets each round's size; leave `count:` and `percent:` out (tags, exclude and seed still apply)"),
                );
                return Err(());
            }
            (Some(n), None) => match u32::try_from(n.value)
                .ok()
                .filter(|v| (1..=limits::MAX_SELECT_HOSTS).contains(v))
            {
                Some(v) => Size::Count(v),
                None => {
                    self.err(
                        &n.referenced,
                        format!(
                            "{what}: count must be from 1 to {}, got {}",
                            limits::MAX_SELECT_HOSTS,
                            n.value
                        ),
                    );
                    return Err(());
                }
            },
            (None, Some(p)) if p.value > 0.0 && p.value <= 100.0 => Size::Percent(p.value),
            (None, Some(p)) => {
                self.err(
                    &p.referenced,
                    format!(
                        "{what}: percent must be more than 0 and at most 100 (of the candidates), got {}",
                        p.value
                    ),
                );
                return Err(());
            }
            _ => {
                self.err(
                    at,
                    format!("{what} needs exactly one of `count:` (hosts) or `percent:` (of the candidates)"),
                );
                return Err(());
            }
        };
        let tags = spec
            .tags
            .as_ref()
            .map(|t| t.value.clone())
            .unwrap_or_default();
        if tags.len() > limits::MAX_SELECT_TAGS || spec.exclude.len() > limits::MAX_SELECT_EXCLUDE {
            self.err(
                at,
                format!(
                    "{what}: at most {} tags and {} excluded hosts",
                    limits::MAX_SELECT_TAGS,
                    limits::MAX_SELECT_EXCLUDE
                ),
            );
            return Err(());
        }
        let mut ok = true;
        for e in &spec.exclude {
            if !hosts.iter().any(|h| names(h, &e.value)) {
                let known: Vec<String> = hosts.iter().take(10).map(HostAddr::label).collect();
                self.err(
                    &e.referenced,
                    format!(
                        "{what}: exclude `{}` names no host of target `{}` (its hosts: {}{})",
                        e.value,
                        fs.target.value,
                        known.join(", "),
                        if hosts.len() > known.len() {
                            ", …"
                        } else {
                            ""
                        }
                    ),
                );
                ok = false;
            }
        }
        if let Some(t) = &spec.tags {
            let matching = hosts
                .iter()
                .filter(|h| tags.iter().all(|(k, v)| h.tags.get(k) == Some(v)))
                .count();
            if matching == 0 {
                self.err(
                    &t.referenced,
                    format!(
                        "{what}: no host of target `{}` has every tag {} (tags come from an inventory's host and group variables)",
                        fs.target.value,
                        tags.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
                ok = false;
            }
        }
        if !ok {
            return Err(());
        }
        let selection = Selection {
            size,
            tags,
            exclude: spec.exclude.iter().map(|e| e.value.clone()).collect(),
            seed: fs.seed.as_ref().map(|s| s.value),
        };
        let candidates = selection.candidates(hosts).len();
        if candidates == 0 {
            self.err(
                at,
                format!(
                    "{what}: no host of target `{}` is left to choose from once its tags and exclusions are applied",
                    fs.target.value
                ),
            );
            return Err(());
        }
        if !expand.is_empty() {
            let last = self.rounds_grow(id, candidates, expand)?;
            return Ok((Some(selection), last));
        }
        let n = size.of(candidates);
        if n > candidates {
            self.err(
                at,
                format!(
                    "{what}: count {n} but target `{}` has only {candidates} candidate host(s) once its tags and exclusions are applied",
                    fs.target.value
                ),
            );
            return Err(());
        }
        Ok((Some(selection), n))
    }

    /// Each size of `expand` must choose more of a fault's `candidates` than the one before, and
    /// no more than there are. Returns the last round's hosts.
    fn rounds_grow(
        &mut self,
        id: &str,
        candidates: usize,
        expand: &[(Size, Location)],
    ) -> Result<usize, ()> {
        let mut before = 0;
        for (size, at) in expand {
            let n = size.of(candidates);
            if n > candidates {
                self.err(
                    at,
                    format!("expand: size {size} is more than the {candidates} candidate host(s) of fault `{id}`"),
                );
                return Err(());
            }
            if n <= before {
                self.err(
                    at,
                    format!("expand: size {size} is {n} of the {candidates} candidate host(s) of fault `{id}`, not more than the round before ({before}); sizes must grow"),
                );
                return Err(());
            }
            before = n;
        }
        Ok(before)
    }

    /// A step's `expand:` sizes: counts from 1, percents (`10%`) in (0, 100], at most
    /// [`limits::MAX_EXPAND_ROUNDS`] of them.
    pub(super) fn expand_sizes(
        &mut self,
        step: &str,
        e: &Spanned<Vec<Spanned<SizeSpec>>>,
    ) -> Vec<(Size, Location)> {
        if e.value.is_empty() || e.value.len() > limits::MAX_EXPAND_ROUNDS {
            self.err(
                &e.referenced,
                format!(
                    "step `{step}`: expand takes 1 to {} sizes (rounds), got {}",
                    limits::MAX_EXPAND_ROUNDS,
                    e.value.len()
                ),
            );
            return Vec::new();
        }
        let mut out = Vec::new();
        for item in &e.value {
            let size = match &item.value {
                SizeSpec::Count(n) => u32::try_from(*n)
                    .ok()
                    .filter(|v| (1..=limits::MAX_SELECT_HOSTS).contains(v))
                    .map(Size::Count),
                SizeSpec::Text(t) => t
                    .trim()
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .filter(|p| *p > 0.0 && *p <= 100.0)
                    .map(Size::Percent),
            };
            match size {
                Some(s) => out.push((s, item.referenced)),
                None => {
                    let written = match &item.value {
                        SizeSpec::Count(n) => n.to_string(),
                        SizeSpec::Text(t) => t.clone(),
                    };
                    self.err(
                        &item.referenced,
                        format!(
                            "step `{step}`: expand size `{written}` must be a count from 1 to {} or a percent like `10%` (more than 0, at most 100)",
                            limits::MAX_SELECT_HOSTS
                        ),
                    );
                    return Vec::new();
                }
            }
        }
        out
    }

    /// Every step's faults, live at once, must fit the blast-radius budget; so must each fault.
    pub(super) fn budget(
        &mut self,
        blast_radius: &BlastRadius,
        targets: &BTreeMap<String, Target>,
        steps: &[(String, Location)],
        at_once: &[AtOnce],
    ) {
        let total: BTreeSet<&HostAddr> = targets
            .values()
            .flat_map(|t| match &t.transport {
                Transport::Ssh { hosts, .. } => hosts.as_slice(),
                Transport::Local => &[],
            })
            .collect();
        let budget = blast_radius.budget(total.len());
        let why = format!(
            "the blast radius allows {budget} host(s) faulted at once ({} of {} SSH host(s))",
            [
                blast_radius.max_hosts.map(|n| format!("max_hosts {n}")),
                blast_radius.max_percent.map(|p| format!("max_percent {p}")),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(", "),
            total.len()
        );
        let mut any_alone = false;
        for a in at_once.iter().filter(|a| a.hosts > budget) {
            any_alone = true;
            self.err(
                &a.at,
                format!(
                    "fault `{}` faults {} host(s) at once, but {why}: choose fewer with `select:` or raise blast_radius",
                    a.fault, a.hosts
                ),
            );
        }
        if any_alone {
            return;
        }
        for (i, (name, at)) in steps.iter().enumerate() {
            let mine: Vec<&AtOnce> = at_once.iter().filter(|a| a.step == i).collect();
            let sum = mine.iter().fold(0usize, |s, a| s.saturating_add(a.hosts));
            if sum > budget {
                self.err(
                    at,
                    format!(
                        "step `{name}`: its faults are live at once on up to {sum} host(s) ({}), but {why}: choose fewer with `select:` or raise blast_radius",
                        mine.iter()
                            .map(|a| format!("{} on {}", a.fault, a.hosts))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(n: usize) -> Vec<HostAddr> {
        (1..=n)
            .map(|i| {
                let mut h = HostAddr::new(format!("web-{i:02}"), 22);
                h.tags
                    .insert("zone".into(), if i % 2 == 0 { "a" } else { "b" }.into());
                h
            })
            .collect()
    }

    fn sel(size: Size) -> Selection {
        Selection {
            size,
            tags: BTreeMap::new(),
            exclude: Vec::new(),
            seed: None,
        }
    }

    fn labels(hs: &[HostAddr]) -> Vec<String> {
        hs.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_count_chooses_that_many_of_the_candidates() {
        let all = hosts(30);
        for n in [1, 2, 7, 30] {
            let c = choose(&all, Size::Count(n).of(30), 42);
            assert_eq!(c.chosen.len(), n as usize);
            assert!(c.chosen.iter().all(|h| all.contains(h)));
            assert!(c.chosen.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
        }
    }

    #[test]
    fn a_percent_rounds_up_and_is_at_least_one() {
        assert_eq!(Size::Percent(10.0).of(30), 3);
        assert_eq!(Size::Percent(10.0).of(31), 4);
        assert_eq!(Size::Percent(10.0).of(5), 1);
        assert_eq!(Size::Percent(0.001).of(1000), 1);
        assert_eq!(Size::Percent(100.0).of(7), 7);
        assert_eq!(Size::Percent(50.0).of(1), 1);
        // 3.0000000000000004 is 3.
        assert_eq!(Size::Percent(0.1 * 100.0).of(30), 3);
    }

    #[test]
    fn the_budget_is_the_smaller_bound_and_a_percent_rounds_down() {
        let b = BlastRadius {
            max_hosts: Some(20),
            max_percent: Some(25.0),
        };
        assert_eq!(b.budget(100), 20);
        assert_eq!(b.budget(40), 10);
        assert_eq!(b.budget(10), 2);
        let only_count = BlastRadius {
            max_hosts: Some(3),
            max_percent: None,
        };
        assert_eq!(only_count.budget(1000), 3);
    }

    #[test]
    fn tags_must_all_match() {
        let mut all = hosts(6);
        all[1].tags.insert("rack".into(), "r1".into());
        let mut s = sel(Size::Count(1));
        s.tags.insert("zone".into(), "a".into());
        assert_eq!(labels(&s.candidates(&all)), ["web-02", "web-04", "web-06"]);
        s.tags.insert("rack".into(), "r1".into());
        assert_eq!(labels(&s.candidates(&all)), ["web-02"]);
        s.tags.insert("rack".into(), "r9".into());
        assert!(s.candidates(&all).is_empty(), "empty after the filter");
    }

    #[test]
    fn exclude_by_name_or_address() {
        let mut all = hosts(4);
        all[2] = HostAddr {
            name: Some("db-main".into()),
            ..HostAddr::new("127.0.0.1", 2222)
        };
        let mut s = sel(Size::Count(1));
        s.exclude = vec!["web-01".into(), "db-main".into()];
        assert_eq!(labels(&s.candidates(&all)), ["web-02", "web-04"]);
        s.exclude = vec!["127.0.0.1:2222".into(), "web-02:22".into()];
        assert_eq!(labels(&s.candidates(&all)), ["web-01", "web-04"]);
    }

    #[test]
    fn the_same_seed_and_hosts_give_the_same_choice_in_any_order() {
        let all = hosts(50);
        let mut shuffled = all.clone();
        shuffled.reverse();
        shuffled.swap(3, 17);
        let a = choose(&all, 5, 42);
        let b = choose(&shuffled, 5, 42);
        assert_eq!(a, b);
        // Pinned: a journaled seed must choose the same hosts in every later version.
        assert_eq!(labels(&a.chosen), labels(&choose(&hosts(50), 5, 42).chosen));
        assert_eq!(
            permutation(8, 42),
            vec![4, 3, 2, 0, 7, 6, 1, 5],
            "the permutation of seed 42 changed: journaled seeds would choose other hosts"
        );
    }

    #[test]
    fn splitmix64_is_the_reference_generator() {
        // The first outputs of Vigna's splitmix64.c for seed 0 and for seed 1234567.
        assert_eq!(SplitMix64(0).next(), 0xe220_a839_7b1d_cdaf);
        let mut g = SplitMix64(1_234_567);
        assert_eq!(g.next(), 6_457_827_717_110_365_317);
        assert_eq!(g.next(), 3_203_168_211_198_807_973);
    }

    #[test]
    fn different_seeds_choose_differently() {
        let all = hosts(50);
        let choices: BTreeSet<Vec<String>> = (0..20u64)
            .map(|seed| labels(&choose(&all, 5, seed).chosen))
            .collect();
        // 20 draws of 5 of 50 (2.1 million subsets): a repeat would mean the seed is ignored.
        assert_eq!(choices.len(), 20);
        assert_ne!(fresh_seed(), fresh_seed());
    }

    #[test]
    fn a_larger_size_with_the_same_seed_is_a_superset() {
        let all = hosts(40);
        let mut last: Vec<HostAddr> = Vec::new();
        for n in [1, 4, 20, 40] {
            let c = choose(&all, n, 7).chosen;
            assert!(
                last.iter().all(|h| c.contains(h)),
                "{n} keeps every earlier host"
            );
            last = c;
        }
    }

    #[test]
    fn every_host_can_be_chosen() {
        let all = hosts(10);
        let seen: BTreeSet<String> = (0..200u64)
            .flat_map(|seed| labels(&choose(&all, 1, seed).chosen))
            .collect();
        assert_eq!(seen.len(), 10);
    }
}
