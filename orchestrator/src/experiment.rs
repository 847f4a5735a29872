//! Experiment files: what to run, on how many nodes, for how long, with which faults.
//!
//! Layered with the config crate: the TOML file, then `CLUSTERLAB_*` environment variables
//! (`CLUSTERLAB_NODES=7`, `CLUSTERLAB_SIM__LOSS=0.05`: `__` separates nested keys), then
//! command-line flags. The resolved experiment is saved in the run directory.

use algorithms::faults::Delay;
use algorithms::faults::{FaultSpec, Nemesis};
use algorithms::service::client::Workload;
use algorithms::sim::NetworkModel;
use algorithms::NodeId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The most nodes (servers, spares and clients) one run may have. What a machine can hold may be
/// less: `limits` checks that before anything starts.
pub const MAX_NODES: usize = 256;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Names the run directory; defaults to the file's stem.
    #[serde(default)]
    pub name: String,
    /// The algorithm's name in the catalogue (`orchestrator list` shows them).
    pub algorithm: String,
    #[serde(default = "default_nodes")]
    pub nodes: usize,
    /// Spare servers, ids `nodes + 1..=nodes + spare_nodes`: started with the others but outside
    /// the initial configuration, for an algorithm with membership changes to add (Raft's
    /// `add-server`); clients are numbered after them.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub spare_nodes: usize,
    /// Every random choice of the run derives from this seed.
    #[serde(default)]
    pub seed: u64,
    #[serde(default = "default_duration", with = "humantime_serde")]
    pub duration: Duration,
    /// The algorithm's parameters, checked by the algorithm (unknown keys are errors).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub params: Value,
    /// Election by attribute (`attributes = { 1 = 40, 2 = 90 }`: each node's free disk, CPU
    /// speed, ...): the best live attribute leads, nodes not listed have 0, ties go to the higher
    /// id. [`Experiment::load`] moves the table into `params.attributes` (see
    /// `algorithms::check::election::Attributes` for why a parameter), so it is empty once loaded.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub attributes: BTreeMap<String, Value>,
    /// Process faults at given times.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<FaultSpec>,
    /// Faults drawn at random from the seed, then a quiet recovery phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nemesis: Option<Nemesis>,
    /// A service's clients (`[workload]`): `workload.clients` client nodes, ids after the
    /// servers' (`nodes + 1` on), each running the algorithm's client.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "workload_table")]
    pub workload: Option<Workload>,
    #[serde(default)]
    pub sim: SimSection,
    /// How long to wait for nodes to start and connect before giving up.
    #[serde(default = "default_connect_timeout", with = "humantime_serde")]
    pub connect_timeout: Duration,
}

/// `[sim]`: how `orchestrator sim` models the network.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSection {
    /// How many seeds `orchestrator sim` runs when `--seeds` is not given.
    pub seeds: u64,
    pub delay: Delay,
    pub loss: f64,
    pub fifo: bool,
    pub start_skew_ms: f64,
}

impl Default for SimSection {
    fn default() -> Self {
        let net = NetworkModel::default();
        SimSection { seeds: 100, delay: net.delay, loss: net.loss, fifo: net.fifo, start_skew_ms: net.start_skew_ms }
    }
}

impl SimSection {
    pub fn network(&self) -> NetworkModel {
        NetworkModel { delay: self.delay.clone(), loss: self.loss, fifo: self.fifo, start_skew_ms: self.start_skew_ms }
    }
}

/// Reads `[workload]` so that its errors name the key (`workload.mix.get: …`).
fn workload_table<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Workload>, D::Error> {
    let table = Value::deserialize(d)?;
    Workload::parse(&table).map(Some).map_err(serde::de::Error::custom)
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn default_nodes() -> usize {
    5
}
fn default_duration() -> Duration {
    Duration::from_secs(10)
}
fn default_connect_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Values given on the command line; they override the file and the environment.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub nodes: Option<usize>,
    pub seed: Option<u64>,
    pub duration: Option<Duration>,
}

/// A bad experiment: the message names the file and the key.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: PathBuf,
    pub message: String,
}

impl Experiment {
    pub fn load(path: &Path, overrides: &Overrides) -> Result<Experiment, ConfigError> {
        let fail = |message: String| ConfigError { file: path.to_path_buf(), message };
        if !path.is_file() {
            return Err(fail("no such experiment file".into()));
        }
        let mut builder =
            config::Config::builder().add_source(config::File::from(path).format(config::FileFormat::Toml)).add_source(
                config::Environment::with_prefix("CLUSTERLAB").prefix_separator("_").separator("__").try_parsing(true),
            );
        let set = |b: config::ConfigBuilder<_>, key: &str, value: config::Value| {
            b.set_override(key, value).expect("override keys are valid")
        };
        if let Some(n) = overrides.nodes {
            builder = set(builder, "nodes", (n as u64).into());
        }
        if let Some(seed) = overrides.seed {
            builder = set(builder, "seed", seed.to_string().into());
        }
        if let Some(d) = overrides.duration {
            builder = set(builder, "duration", humantime::format_duration(d).to_string().into());
        }
        let settings = builder.build().map_err(|e| fail(e.to_string()))?;
        let mut exp: Experiment = settings.try_deserialize().map_err(|e| fail(describe(e)))?;
        if exp.name.is_empty() {
            exp.name = path.file_stem().map_or("experiment".into(), |s| s.to_string_lossy().into_owned());
        }
        exp.take_attributes().map_err(fail)?;
        exp.validate().map_err(|e| fail(with_variable(e)))?;
        Ok(exp)
    }

    /// Checks the `attributes` table (every key a node of the cluster, every value a whole number
    /// at least 0) and moves it into `params.attributes` for an algorithm that elects by
    /// attribute; an error names the key.
    fn take_attributes(&mut self) -> Result<(), String> {
        if self.attributes.is_empty() {
            return Ok(());
        }
        let algorithm = algorithms::find(&self.algorithm).map_err(|e| format!("algorithm: {e}"))?;
        if !algorithm.by_attribute() {
            let by: Vec<&str> = algorithms::catalogue().iter().filter(|a| a.by_attribute()).map(|a| a.name()).collect();
            return Err(format!(
                "attributes: {} does not elect by attribute (these do: {})",
                self.algorithm,
                by.join(", ")
            ));
        }
        let mut table = serde_json::Map::new();
        for (key, value) in &self.attributes {
            let node: NodeId =
                key.parse().map_err(|_| format!("attributes.{key}: a key is a node id, 1 to {}", self.nodes))?;
            if !(1..=self.nodes as NodeId).contains(&node) {
                return Err(format!("attributes.{key}: there is no node {node} in a cluster of {}", self.nodes));
            }
            let Some(attribute) = value.as_u64() else {
                return Err(format!("attributes.{key}: {value} is not a whole number at least 0"));
            };
            table.insert(node.to_string(), attribute.into());
        }
        match &mut self.params {
            Value::Null => self.params = serde_json::json!({ "attributes": table }),
            Value::Object(params) if params.contains_key("attributes") => {
                return Err("attributes: given twice, at the top and as params.attributes; keep one".into())
            }
            Value::Object(params) => {
                params.insert("attributes".into(), table.into());
            }
            _ => return Err("params: must be a table".into()),
        }
        self.attributes.clear();
        Ok(())
    }

    /// Everything that can be checked before a process starts.
    pub fn validate(&self) -> Result<(), String> {
        let algorithm = algorithms::find(&self.algorithm).map_err(|e| format!("algorithm: {e}"))?;
        if !(1..=MAX_NODES).contains(&self.nodes) {
            return Err(format!("nodes: {} is out of range (1 to {MAX_NODES})", self.nodes));
        }
        if self.duration.is_zero() {
            return Err("duration: must be above zero".into());
        }
        if self.name.is_empty() || !self.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("name: {:?} must be letters, digits, '-', '_' or '.'", self.name));
        }
        let ids = self.server_ids();
        algorithm.build_server(1, &ids[1..], &self.member_ids(), &self.params)?;
        if self.servers() > MAX_NODES {
            return Err(format!(
                "spare_nodes: {} servers and {} spares are above {MAX_NODES} nodes",
                self.nodes, self.spare_nodes
            ));
        }
        if let Some(workload) = &self.workload {
            algorithm.build_client(self.servers() as NodeId + 1, &ids, workload)?;
            if self.servers() + workload.clients > MAX_NODES {
                return Err(format!(
                    "workload.clients: {} servers and {} clients are above {MAX_NODES} nodes",
                    self.servers(),
                    workload.clients
                ));
            }
        }
        if let Some(nemesis) = &self.nemesis {
            nemesis.validate()?;
        }
        for (i, fault) in self.faults.iter().enumerate() {
            fault.validate(self.all_ids().len()).map_err(|e| format!("faults[{i}]: {e}"))?;
        }
        algorithms::algorithm::check_corruptible(algorithm, &self.params, self.nodes, &self.all_faults())?;
        self.sim.delay.validate().map_err(|e| format!("sim.delay: {e}"))?;
        if !(0.0..=1.0).contains(&self.sim.loss) {
            return Err(format!("sim.loss: {} is not a probability (0 to 1)", self.sim.loss));
        }
        Ok(())
    }

    /// What is odd but not wrong, e.g. faults after the end of a run shortened with --duration.
    pub fn warnings(&self) -> Vec<String> {
        self.faults
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at >= self.duration)
            .map(|(i, f)| {
                format!(
                    "faults[{i}] at {} falls after the run's end ({}) and is skipped",
                    humantime::format_duration(f.at),
                    humantime::format_duration(self.duration)
                )
            })
            .collect()
    }

    /// How many servers run: the initial configuration's and the spares.
    pub fn servers(&self) -> usize {
        self.nodes + self.spare_nodes
    }

    /// The servers' ids, spares included: `1..=nodes + spare_nodes`.
    pub fn server_ids(&self) -> Vec<NodeId> {
        (1..=self.servers() as NodeId).collect()
    }

    /// The initial configuration's ids, `1..=nodes`.
    pub fn member_ids(&self) -> Vec<NodeId> {
        (1..=self.nodes as NodeId).collect()
    }

    /// Every node's id: the servers (spares included), then the client nodes of a `[workload]`.
    pub fn all_ids(&self) -> Vec<NodeId> {
        let clients = self.workload.as_ref().map_or(0, |w| w.clients);
        (1..=(self.servers() + clients) as NodeId).collect()
    }

    /// The schedule and the nemesis's faults together, in time order (those after the end left out).
    pub fn all_faults(&self) -> Vec<FaultSpec> {
        let mut all: Vec<FaultSpec> = self.faults.iter().filter(|f| f.at < self.duration).cloned().collect();
        if let Some(nemesis) = &self.nemesis {
            all.extend(nemesis.plan(self.nodes, self.duration, self.seed));
        }
        all.sort_by_key(|f| f.at);
        all
    }

    /// The resolved experiment as TOML, saved in the run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render: {e}\n"))
    }
}

/// The config crate names the key for type errors but serde's unknown-field message does not say
/// it is a key of this file; make both read the same way, and name the environment variable when
/// the key came from the environment.
fn describe(e: config::ConfigError) -> String {
    let text = e.to_string();
    if let Some(rest) = text.strip_prefix("unknown field ") {
        let key = rest.split('`').nth(1).unwrap_or_default();
        return match set_by_environment(key) {
            Some(variable) => format!("unknown key {rest} (set by the environment variable {variable})"),
            None => format!("unknown key {rest}"),
        };
    }
    // "invalid type: … for key `sim.loss` in the environment"
    if let Some(key) = text.split("for key `").nth(1).and_then(|k| k.split('`').next()) {
        if let Some(variable) = set_by_environment(key) {
            return format!("{text} (the environment variable {variable})");
        }
    }
    text
}

/// The environment variable that sets `key` (`sim.loss` → `CLUSTERLAB_SIM__LOSS`), if it is set.
fn set_by_environment(key: &str) -> Option<String> {
    let variable = format!("CLUSTERLAB_{}", key.replace('.', "__").to_uppercase());
    std::env::var_os(&variable).map(|_| variable)
}

/// Names the environment variable behind a bad value found when validating (`params.x: …`).
fn with_variable(message: String) -> String {
    let key = message.split(':').next().unwrap_or_default();
    match set_by_environment(key) {
        Some(variable) if !key.contains(' ') => format!("{message} (set by the environment variable {variable})"),
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "clusterlab-exp-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn an_unknown_key_is_named_with_the_file() {
        let dir = scratch();
        let path = write(&dir, "typo.toml", "algorithm = \"bully\"\nnodez = 3\n");
        let err = Experiment::load(&path, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("typo.toml") && err.contains("nodez"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_bad_value_and_an_unknown_param_are_named() {
        let dir = scratch();
        let path = write(&dir, "bad.toml", "algorithm = \"bully\"\nnodes = \"many\"\n");
        let err = Experiment::load(&path, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("bad.toml") && err.contains("nodes"), "{err}");
        let path = write(&dir, "param.toml", "algorithm = \"bully\"\n[params]\nheartbeat = 5\n");
        let err = Experiment::load(&path, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("params") && err.contains("heartbeat"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn attributes_are_checked_named_and_handed_to_the_algorithm() {
        let dir = scratch();
        let load = |name: &str, text: &str| Experiment::load(&write(&dir, name, text), &Overrides::default());
        let err = load("far.toml", "algorithm = \"bully\"\nnodes = 3\nattributes = { 1 = 40, 7 = 90 }\n").unwrap_err();
        let err = err.to_string();
        assert!(err.contains("far.toml") && err.contains("attributes.7: there is no node 7"), "{err}");
        let err = load("neg.toml", "algorithm = \"bully\"\nnodes = 3\nattributes = { 2 = -1 }\n").unwrap_err();
        assert!(err.to_string().contains("attributes.2: -1 is not a whole number"), "{err}");
        let err = load("raft.toml", "algorithm = \"raft-election\"\nattributes = { 2 = 1 }\n").unwrap_err();
        assert!(err.to_string().contains("attributes: raft-election does not elect by attribute"), "{err}");
        let exp = load("ok.toml", "algorithm = \"bully\"\nnodes = 3\nattributes = { 1 = 40, 2 = 90 }\n").unwrap();
        assert!(exp.attributes.is_empty());
        assert_eq!(exp.params, serde_json::json!({ "attributes": { "1": 40, "2": 90 } }));
        let again: Experiment = toml::from_str(&exp.to_toml()).unwrap();
        assert_eq!(again, exp, "saved with the run as params.attributes");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn an_unknown_algorithm_lists_the_known_ones() {
        let dir = scratch();
        let path = write(&dir, "alg.toml", "algorithm = \"bullie\"\n");
        let err = Experiment::load(&path, &Overrides::default()).unwrap_err().to_string();
        assert!(err.contains("bullie") && err.contains("known algorithms: bully"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn a_workload_names_its_bad_keys_needs_a_service_and_round_trips() {
        let dir = scratch();
        let service = "algorithm = \"kv-single\"\nnodes = 3\n[workload]\n";
        let load = |name: &str, text: &str| Experiment::load(&write(&dir, name, text), &Overrides::default());
        let err = load("typo.toml", &format!("{service}clinets = 2\n")).unwrap_err().to_string();
        assert!(err.contains("typo.toml") && err.contains("workload.clinets"), "{err}");
        let err = load("mix.toml", &format!("{service}mix = {{ get = -1.0 }}\n")).unwrap_err().to_string();
        assert!(err.contains("workload.mix.get"), "{err}");
        let err = load("bully.toml", "algorithm = \"bully\"\n[workload]\nclients = 2\n").unwrap_err().to_string();
        assert!(err.contains("workload: bully has no clients"), "{err}");
        let exp = load(
            "ok.toml",
            &format!(
                "{service}clients = 2\ntimeout = \"300ms\"\n[[faults]]\nat = \"1s\"\naction = \"kill\"\nnode = 5\n"
            ),
        )
        .unwrap();
        assert_eq!(
            (exp.server_ids(), exp.all_ids()),
            (vec![1, 2, 3], vec![1, 2, 3, 4, 5]),
            "clients after the servers"
        );
        assert_eq!(exp.workload.as_ref().unwrap().timeout, Duration::from_millis(300));
        let again: Experiment = toml::from_str(&exp.to_toml()).unwrap();
        assert_eq!(again, exp);
        let err =
            load("kill.toml", &format!("{service}clients = 2\n[[faults]]\nat = \"1s\"\naction = \"kill\"\nnode = 6\n"))
                .unwrap_err()
                .to_string();
        assert!(err.contains("faults[0]") && err.contains("node 6 does not exist"), "{err}");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn spares_come_after_the_members_clients_after_the_spares_and_need_membership_changes() {
        let dir = scratch();
        let load = |name: &str, text: &str| Experiment::load(&write(&dir, name, text), &Overrides::default());
        let err = load("bully.toml", "algorithm = \"bully\"\nnodes = 3\nspare_nodes = 2\n").unwrap_err().to_string();
        assert!(err.contains("bully.toml") && err.contains("spare_nodes: bully has no membership changes"), "{err}");
        let exp =
            load("raft.toml", "algorithm = \"raft\"\nnodes = 3\nspare_nodes = 2\n[workload]\nclients = 2\n").unwrap();
        assert_eq!(exp.member_ids(), vec![1, 2, 3]);
        assert_eq!(exp.server_ids(), vec![1, 2, 3, 4, 5]);
        assert_eq!(exp.all_ids(), (1..=7).collect::<Vec<_>>());
        let again: Experiment = toml::from_str(&exp.to_toml()).unwrap();
        assert_eq!(again, exp);
        assert!(!load("none.toml", "algorithm = \"raft\"\n").unwrap().to_toml().contains("spare_nodes"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn flags_override_the_file_and_the_result_round_trips() {
        let dir = scratch();
        let path = write(
            &dir,
            "ok.toml",
            "algorithm = \"bully\"\nnodes = 3\nduration = \"4s\"\n[[faults]]\nat = \"1s\"\naction = \"kill\"\nnode = \"leader\"\n",
        );
        let over = Overrides { nodes: Some(4), seed: Some(9), duration: None };
        let exp = Experiment::load(&path, &over).unwrap();
        assert_eq!((exp.nodes, exp.seed, exp.name.as_str()), (4, 9, "ok"));
        assert_eq!(exp.duration, Duration::from_secs(4));
        let again: Experiment = toml::from_str(&exp.to_toml()).unwrap();
        assert_eq!(again, exp);
        std::fs::remove_dir_all(dir).ok();
    }
}
