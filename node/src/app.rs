//! Wiring: opens the trace, binds the sockets and starts the actors ([`crate::lifecycle`] starts
//! and stops them).

use crate::control_server;
use crate::external::External;
use crate::instance::{Instance, Setup};
use crate::lifecycle::Lifecycle;
use crate::tracer::Tracer;
use crate::transport::{Links, Net, Stats, Transport};
use actix::prelude::*;
use algorithms::NodeId;
use node::config::NodeConfig;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::rc::Rc;
use std::sync::Arc;

/// Sets the node up inside the actix system. An error means the node cannot run (exit 3).
pub async fn start(cfg: NodeConfig) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let (tracer, incarnation) = Tracer::open(&cfg.trace, cfg.id, cfg.trace_messages)
        .with_context(|| format!("cannot open the trace {}", cfg.trace.display()))?;
    let tracer = Arc::new(tracer);
    std::fs::create_dir_all(&cfg.data_dir)
        .with_context(|| format!("cannot create the data directory {}", cfg.data_dir.display()))?;
    // Signals are caught from here on, so an early SIGTERM still stops the node cleanly.
    let signals = control_server::Signals::install().context("cannot install signal handlers")?;
    let listener =
        tokio::net::TcpListener::bind(cfg.listen).await.with_context(|| format!("cannot listen on {}", cfg.listen))?;
    let control = match &cfg.control {
        Some(path) => Some(control_server::bind(path)?),
        None => None,
    };

    let names = cfg.instances.iter().map(|i| i.name.clone()).collect();
    let life = Rc::new(Lifecycle::new(tracer.clone(), names, cfg.control.clone()));
    let peers: Vec<NodeId> = cfg.peer_ids();
    let stats = Arc::new(Stats::default());
    let (links, queues) = Links::new(&peers, stats.clone(), cfg.mux.is_some());

    let mut routes = HashMap::new();
    let mut by_name = BTreeMap::new();
    for inst in &cfg.instances {
        if let Some(params) = inst.program().map_err(anyhow::Error::msg)? {
            let servers = inst.servers.as_deref();
            let external = External::new(
                &inst.name,
                cfg.id,
                &peers,
                servers,
                params,
                cfg.seed,
                incarnation,
                &cfg.data_dir,
                links.clone(),
                tracer.clone(),
                life.clone(),
            )
            .map_err(anyhow::Error::msg)?;
            let addr = external.start();
            routes.insert(inst.name.clone(), addr.clone().recipient());
            // Maelstrom's services travel in envelopes named after them (see external.rs).
            for service in algorithms::maelstrom::kv::SERVICES {
                routes.insert(service.to_string(), addr.clone().recipient());
            }
            life.add_instance(addr.clone().recipient());
            by_name.insert(inst.name.clone(), control_server::Handle::of(&addr));
            continue;
        }
        let setup = Setup {
            me: cfg.id,
            peers: &peers,
            seed: cfg.seed,
            incarnation,
            data_dir: &cfg.data_dir,
            links: links.clone(),
            tracer: tracer.clone(),
            life: life.clone(),
        };
        let instance = Instance::new(inst, setup).map_err(anyhow::Error::msg)?;
        let addr = instance.start();
        routes.insert(inst.name.clone(), addr.clone().recipient());
        life.add_instance(addr.clone().recipient());
        by_name.insert(inst.name.clone(), control_server::Handle::of(&addr));
    }

    let gate = node::wire::Gate {
        me: cfg.id,
        cluster: cfg.cluster.clone(),
        peers: peers.iter().copied().collect(),
        instances: routes.keys().cloned().collect(),
    };
    let net = Rc::new(Net {
        gate,
        bind: cfg.bind,
        stats,
        tracer,
        routes,
        connected: RefCell::new(BTreeSet::new()),
        greeted: RefCell::default(),
        hello_deadline: Default::default(),
    });
    let addrs = cfg.peers.iter().map(|p| (p.id, p.addr)).collect();
    let transport = Transport::new(net, listener, queues, addrs, cfg.mux).start();

    signals.spawn(life.clone());
    if let Some(listener) = control {
        actix_rt::spawn(control_server::serve(
            listener,
            control_server::Shared {
                id: cfg.id,
                peers: peers.clone().into(),
                life: life.clone(),
                instances: Rc::new(by_name),
                transport,
            },
        ));
    }
    tracing::info!(
        "node {} of cluster {:?} listening on {} (incarnation {incarnation}, {} instance(s){})",
        cfg.id,
        cfg.cluster,
        cfg.listen,
        cfg.instances.len(),
        if cfg.hold { ", held until start" } else { "" }
    );
    if !cfg.hold {
        life.start();
    }
    Ok(())
}
