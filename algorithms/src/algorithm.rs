//! What an algorithm is to the rest of clusterlab: a name, the processes it builds from its
//! `[params]`, the properties it promises, and the checker that judges a run against them.
//!
//! An algorithm declares all of it once, as a [`Spec`]; every `Spec` is an [`Algorithm`], the
//! object-safe face the catalogue, the simulator and the hosts use, which parses the `[params]`
//! once for each build and once for each check.
//!
//! This module is the bottom of the crate: every algorithm imports it and it imports none of them.
//! The list of all algorithms lives at the top, in [`crate::catalogue`](mod@crate::catalogue).

pub use crate::check::PropertyInfo;
use crate::check::{CheckReport, Execution, PropertyResult};
use crate::core::process::{DynProcess, Hosted, NodeId, Process};
use crate::service::client::Workload;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Which family an algorithm belongs to: its folder, and the tests and checks it shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Election,
    Mutex,
    /// A self-stabilizing algorithm (see [`crate::stabilizing`]): from any state, even one the
    /// `corrupt` fault leaves, it reaches a legitimate state by itself and stays there.
    Stabilizing,
    /// A replicated service with clients (see [`crate::service`]): its runs leave a client history.
    Replication,
    /// Single-value or log agreement among the nodes, without clients.
    Consensus,
    /// Every member's messages delivered to every member (see [`crate::broadcast`]), here in one
    /// total order.
    Broadcast,
    /// A failure detector on its own (see [`crate::detection`]): who suspects whom, and when.
    Detection,
    /// A program in any language speaking Maelstrom's protocol (see [`crate::maelstrom`]), judged
    /// by the checker of its workload.
    Maelstrom,
    /// Not a distributed algorithm: the load generator of the transport benchmark.
    Load,
}

/// An algorithm's `[params]` table: every key has a default, unknown keys are errors
/// (`#[serde(deny_unknown_fields, default)]`), and [`Params::validate`] checks what the types cannot.
pub trait Params: DeserializeOwned + Default {
    /// Checks values against each other and against the cluster size `nodes`; an error names
    /// the key as `params.<key>`.
    fn validate(&self, _nodes: usize) -> Result<(), String> {
        Ok(())
    }
}

/// The `[params]` of an algorithm that takes none: any key is an error.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

impl Params for NoParams {}

/// Builds the client process of client node `me` for a service whose servers are `servers`, from
/// the experiment's `[workload]` (e.g. [`crate::service::client::kv_client`]).
pub type ClientFactory = fn(me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String>;

/// Builds server `me` of an algorithm whose configuration changes at run time (see
/// [`Spec::MEMBERSHIP`]): `members` is the initial configuration, the other servers of `peers`
/// are spares outside it.
pub type MemberFactory<P> =
    fn(me: NodeId, peers: &[NodeId], members: &[NodeId], params: &P) -> Result<Box<dyn DynProcess>, String>;

/// Everything an algorithm declares, once: implement this and list the type in
/// [`crate::catalogue()`]; the blanket impl makes it an [`Algorithm`].
///
/// ```ignore
/// impl Spec for Bully {
///     const NAME: &'static str = "bully";
///     const FAMILY: Family = Family::Election;
///     const SUMMARY: &'static str = "bully election: the highest live id leads";
///     type Params = BullyParams;
///     fn properties() -> Vec<PropertyInfo> { vec![/* ... */] }
///     fn build(me: NodeId, _peers: &[NodeId], p: &BullyParams) -> Result<impl Process, String> {
///         Ok(BullyNode::new(me, p.clone()))
///     }
///     fn check(exec: &Execution, p: &BullyParams) -> CheckReport { check_bully(exec, p) }
/// }
/// ```
pub trait Spec: Sync + 'static {
    /// The name experiment files use (`algorithm = "bully"`).
    const NAME: &'static str;
    const FAMILY: Family;
    /// One line for `orchestrator list` and error messages.
    const SUMMARY: &'static str;

    type Params: Params;

    /// The client a service's client nodes run; `None` (the default) for an algorithm without
    /// clients, for which an experiment with a `[workload]` is an error.
    const CLIENT: Option<ClientFactory> = None;

    /// Whether the algorithm elects by attribute: takes `params.attributes`
    /// ([`crate::check::election::Attributes`]), which the orchestrator fills from an experiment's
    /// `attributes` table (an error for an algorithm that does not).
    const BY_ATTRIBUTE: bool = false;

    /// An algorithm whose servers change at run time (Raft's `add-server`) builds a server
    /// knowing its initial configuration, so that an experiment can start spare servers outside
    /// it (`spare_nodes`). `None` (the default): an experiment with spares is an error.
    ///
    /// The build learns the configuration, rather than a parameter stating it, because the
    /// hosts must know the spares anyway (they start them, and number the clients after them): a
    /// parameter would say the same thing a second time, and could say it differently.
    const MEMBERSHIP: Option<MemberFactory<Self::Params>> = None;

    /// What every run of this algorithm must satisfy; the checker reports each of these by name.
    fn properties() -> Vec<PropertyInfo>;

    /// The process of node `me`, from parameters already parsed and validated. Errors that need
    /// the ids (e.g. a coordinator that is not in the cluster) name the key.
    fn build(me: NodeId, peers: &[NodeId], params: &Self::Params) -> Result<impl Process, String>;

    /// Judges a run with the parameters it ran with.
    fn check(exec: &Execution, params: &Self::Params) -> CheckReport;
}

/// The object-safe face of a [`Spec`], for the catalogue (`&'static dyn Algorithm`) and the hosts.
pub trait Algorithm: Sync {
    /// The name experiment files use (`algorithm = "bully"`).
    fn name(&self) -> &'static str;

    fn family(&self) -> Family;

    /// One line for `orchestrator list` and error messages.
    fn summary(&self) -> &'static str;

    /// Builds the process of node `me`. Bad parameters are an error naming the key.
    fn build(&self, me: NodeId, peers: &[NodeId], params: &Value) -> Result<Box<dyn DynProcess>, String>;

    /// What every run of this algorithm must satisfy.
    fn properties(&self) -> Vec<PropertyInfo>;

    /// Whether the algorithm is a service with client nodes (see [`Spec::CLIENT`]).
    fn has_clients(&self) -> bool;

    /// Whether it elects by attribute (see [`Spec::BY_ATTRIBUTE`]).
    fn by_attribute(&self) -> bool;

    /// Builds server `me` whose initial configuration is `members` (some of `me` and `peers`).
    /// With every server a member it is [`Algorithm::build`]; spares outside the configuration
    /// need an algorithm with membership changes ([`Spec::MEMBERSHIP`]), else an error naming
    /// `spare_nodes`.
    fn build_server(
        &self,
        me: NodeId,
        peers: &[NodeId],
        members: &[NodeId],
        params: &Value,
    ) -> Result<Box<dyn DynProcess>, String>;

    /// Builds the process of client node `me`; an error naming `workload` for an algorithm
    /// without clients.
    fn build_client(&self, me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String>;

    /// Judges a run (real or simulated) from its traces, with the parameters it ran with. When
    /// those do not parse (e.g. an old `experiment.toml` with a renamed key), every property is
    /// `unknown` with the parse error: a run is never judged against default parameters.
    fn check(&self, run: &Execution) -> CheckReport;
}

impl<S: Spec> Algorithm for S {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn family(&self) -> Family {
        S::FAMILY
    }

    fn summary(&self) -> &'static str {
        S::SUMMARY
    }

    fn build(&self, me: NodeId, peers: &[NodeId], params: &Value) -> Result<Box<dyn DynProcess>, String> {
        let params: S::Params = parse_params(params)?;
        params.validate(peers.len() + 1)?;
        Ok(Hosted::boxed(S::build(me, peers, &params)?))
    }

    fn properties(&self) -> Vec<PropertyInfo> {
        S::properties()
    }

    fn has_clients(&self) -> bool {
        S::CLIENT.is_some()
    }

    fn by_attribute(&self) -> bool {
        S::BY_ATTRIBUTE
    }

    fn build_server(
        &self,
        me: NodeId,
        peers: &[NodeId],
        members: &[NodeId],
        params: &Value,
    ) -> Result<Box<dyn DynProcess>, String> {
        let everyone = members.len() == peers.len() + 1 && peers.iter().chain([&me]).all(|p| members.contains(p));
        if everyone {
            return self.build(me, peers, params);
        }
        let Some(factory) = S::MEMBERSHIP else {
            return Err(format!(
                "spare_nodes: {} has no membership changes, so every server is in it from the start; remove spare_nodes",
                S::NAME
            ));
        };
        if let Some(stranger) = members.iter().find(|m| **m != me && !peers.contains(m)) {
            return Err(format!("spare_nodes: member {stranger} is not a server of the cluster"));
        }
        let params: S::Params = parse_params(params)?;
        params.validate(members.len())?;
        factory(me, peers, members, &params)
    }

    fn build_client(&self, me: NodeId, servers: &[NodeId], workload: &Workload) -> Result<Box<dyn DynProcess>, String> {
        match S::CLIENT {
            Some(client) => client(me, servers, workload),
            None => Err(format!(
                "workload: {} has no clients (it is not a service); remove the [workload] section",
                S::NAME
            )),
        }
    }

    fn check(&self, run: &Execution) -> CheckReport {
        match parse_params::<S::Params>(&run.params) {
            Ok(params) => S::check(run, &params),
            Err(e) => unjudged(&S::properties(), &e),
        }
    }
}

/// A schedule that corrupts state needs an algorithm that opts in ([`Process::on_corrupt`]):
/// checked before anything starts, on a throwaway process of node 1, so that an experiment that
/// could never apply its `corrupt` faults is an error naming the algorithm.
pub fn check_corruptible(
    algorithm: &dyn Algorithm,
    params: &Value,
    nodes: usize,
    faults: &[crate::faults::FaultSpec],
) -> Result<(), String> {
    let Some(first) = faults.iter().find(|f| matches!(f.action, crate::faults::Action::Corrupt { .. })) else {
        return Ok(());
    };
    let ids: Vec<NodeId> = (1..=nodes as NodeId).collect();
    let mut probe = algorithm.build(1, &ids[1..], params)?;
    let mut rng = crate::core::process::node_rng(0, 1, 0);
    let world = crate::core::process::World { me: 1, peers: &ids[1..], now: 0, rng: &mut rng };
    match probe.on_corrupt(world).0 {
        true => Ok(()),
        false => Err(format!(
            "the corrupt fault at {}: {}",
            humantime::format_duration(first.at),
            crate::faults::unsupported_corrupt(algorithm.name())
        )),
    }
}

/// Every property `unknown`, for a run whose parameters do not parse.
fn unjudged(properties: &[PropertyInfo], error: &str) -> CheckReport {
    let detail = format!("not judged: the run's parameters do not parse ({error})");
    CheckReport {
        properties: properties.iter().map(|p| PropertyResult::unknown(p.name, detail.clone())).collect(),
        ..Default::default()
    }
}

/// Reads an algorithm's `[params]` table into its parameter struct. `Null` (no table) gives the
/// defaults; unknown keys and bad values are errors naming the key under `params.`, e.g.
/// `params.heartbeat_ms: invalid value: integer `-5`, expected u64`.
pub fn parse_params<T: DeserializeOwned + Default>(params: &Value) -> Result<T, String> {
    if params.is_null() {
        return Ok(T::default());
    }
    serde_path_to_error::deserialize(params.clone()).map_err(|e| {
        let path = e.path().to_string();
        match path.as_str() {
            "." => format!("params: {}", e.inner()),
            _ => format!("params.{path}: {}", e.inner()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Inner {
        rate_per_s: f64,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(deny_unknown_fields, default)]
    struct Params {
        heartbeat_ms: u64,
        inner: Inner,
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let err = parse_params::<Params>(&json!({ "heartbeat_ms": -5 })).unwrap_err();
        assert!(err.starts_with("params.heartbeat_ms: invalid value: integer `-5`, expected u64"), "{err}");
        let err = parse_params::<Params>(&json!({ "inner": { "rate_per_s": "fast" } })).unwrap_err();
        assert!(err.starts_with("params.inner.rate_per_s: invalid type: string"), "{err}");
        let err = parse_params::<Params>(&json!({ "hearbeat_ms": 5 })).unwrap_err();
        assert!(err.contains("params") && err.contains("hearbeat_ms"), "{err}");
        assert_eq!(parse_params::<Params>(&Value::Null).unwrap().heartbeat_ms, 0, "no table: the defaults");
    }
}
