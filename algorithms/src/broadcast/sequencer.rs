//! Sequencer-based total-order multicast, the sequencer an elected leader (the course's
//! "sequencer-based algorithm for total ordering of multicasts": the sequencer = the leader).
//!
//! The leader comes from one of the catalogue's elections, embedded in every member
//! (`params.election`, with its own `params.election_params`): its messages travel inside this
//! algorithm's (their trace kinds the election's own: `coordinator`, `heartbeat`, ...), its timers
//! are `election:<its key>`, its events pass through, and its checker judges it (`election`).
//!
//! Rules:
//! - **Multicast.** A member gives its message an id (origin, count; the count is persisted) and
//!   sends it to the sequencer, the leader it knows (SUBMIT). It keeps the message until it has
//!   delivered it, resending it every `resend_ms`, and at once to a new sequencer.
//! - **Sequence.** The sequencer of epoch e gives a message it has not numbered yet the next
//!   number and multicasts ORDER(e, seq, message); a message it already numbered is not numbered
//!   again.
//! - **Hold back.** A member keeps an ORDER of the newest epoch it knows (persisted before it
//!   answers), acknowledges the highest number up to which it holds every entry of that epoch
//!   (ACK), and delivers in number order only what is *stable*: held by a majority, as the
//!   sequencer announces (STABLE, or piggybacked on every ORDER). A member with a gap or an
//!   unannounced entry asks again after `gap_ms` (FETCH): the sequencer, or every third time any
//!   member, answers with delivered entries (FINAL) and the sequencer with its orders. The
//!   sequencer probes every `tick_ms` each member whose acknowledgement lags.
//! - **Recovery.** A new leader picks an epoch above every one it promised and collects from a
//!   majority (itself included) their delivered prefix and held entries (COLLECT / STATE; a
//!   member promises the epoch, persisted, and refuses older ones with REJECT). It keeps for every
//!   number the delivered entry, or else the one of the newest epoch; fills numbers nobody holds
//!   with a no-op; re-issues everything above its own delivered prefix in its epoch, sends
//!   delivered entries to members behind it, and numbers new messages from the highest number seen
//!   plus one. A sequencer refused by a newer epoch steps down (and, still leader, tries again
//!   above it).
//!
//! Why stability: with plain delivery on receipt, a sequencer that dies after its ORDER reached
//! one member only leaves a number that a majority never saw, and its successor gives it to
//! another message: two members deliver different messages at one position. A delivered entry is
//! held by a majority, so every later collection sees it (majorities intersect), as in Paxos with
//! the epoch as ballot. `unsafe_no_recovery` (meant to fail) skips the collection: the new
//! sequencer numbers from its own delivered count, and numbers its predecessor gave are given again.
//!
//! Properties: total order (no two members deliver different messages at one position; each
//! member's positions increase), agreement (a message one correct member delivers, every correct
//! member delivers), integrity (at most once, and only if multicast), validity (a correct member
//! delivers its own multicast), judged in a quiet tail of `settle_ms` at the end; and the embedded
//! election's own properties. Cost: the textbook's 1 + (N−1) per message (SUBMIT, then ORDER to
//! the others) plus the acknowledgements of stability, N−1 ACK and up to N−1 STABLE (piggybacked
//! on the next ORDER under load): at most 1 + 3(N−1).

mod check;

use crate::algorithm::{Algorithm, Family, Params, PropertyInfo, Spec};
use crate::check::events::broadcast::{BroadcastEvent, Epoch, MsgId};
use crate::check::{CheckReport, Execution};
use crate::core::process::{Ctx, DynProcess, Effect, Message, Nanos, NodeId, Process, Status, Timer, World, MS};
use crate::election;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

/// This algorithm's own message kinds (the embedded election's keep theirs).
pub const KINDS: [&str; 9] = ["submit", "order", "ack", "stable", "fetch", "final", "collect", "state", "reject"];

/// The longest run of entries one FINAL (or one answer of ORDERs) carries.
const BATCH: usize = 64;

/// A message as the sequence holds it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: MsgId,
    pub payload: String,
}

/// Number `seq` of the sequence as a member holds it: given in `epoch`, a message or a no-op
/// (`body` none: a number nobody held at a recovery), `fixed` once delivered somewhere (final).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub seq: u64,
    pub epoch: Epoch,
    pub body: Option<Entry>,
    pub fixed: bool,
}

/// What a member tells a collecting sequencer: its delivered prefix and every entry above the
/// sequencer's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub delivered: u64,
    pub slots: Vec<Slot>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SeqMsg {
    Submit {
        id: MsgId,
        payload: String,
    },
    /// Number `seq` is `body` in `epoch`; this epoch's entries up to `stable` are held by a majority.
    Order {
        epoch: Epoch,
        seq: u64,
        body: Option<Entry>,
        stable: u64,
    },
    /// The member holds every entry of `epoch` up to `upto`.
    Ack {
        epoch: Epoch,
        upto: u64,
    },
    Stable {
        epoch: Epoch,
        upto: u64,
    },
    /// "Send me what you have after `after`."
    Fetch {
        after: u64,
    },
    /// Delivered entries: final, deliverable at once.
    Final {
        slots: Vec<Slot>,
    },
    Collect {
        epoch: Epoch,
        after: u64,
    },
    State {
        epoch: Epoch,
        reply: Reply,
    },
    /// `epoch` refused: the member promised `promised`.
    Reject {
        epoch: Epoch,
        promised: Epoch,
    },
    /// A message of the embedded election, as its own encoding (sent under its own kind).
    Election(Vec<u8>),
}

impl Message for SeqMsg {
    fn kind(&self) -> &'static str {
        match self {
            SeqMsg::Submit { .. } => "submit",
            SeqMsg::Order { .. } => "order",
            SeqMsg::Ack { .. } => "ack",
            SeqMsg::Stable { .. } => "stable",
            SeqMsg::Fetch { .. } => "fetch",
            SeqMsg::Final { .. } => "final",
            SeqMsg::Collect { .. } => "collect",
            SeqMsg::State { .. } => "state",
            SeqMsg::Reject { .. } => "reject",
            // Never on the wire under this name: `Ctx::adopt` sends it under the election's kind.
            SeqMsg::Election(_) => "election_message",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeqTimer {
    /// The workload's next multicast.
    Multicast,
    Resend,
    Gap,
    /// The sequencer's probe of lagging members.
    Tick,
    Collect,
    /// A leader that stepped down for a newer epoch takes the role again.
    Retake,
    Announce,
    /// A timer of the embedded election, by its key.
    Election(String),
}

impl Timer for SeqTimer {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SequencerParams {
    /// The embedded election, by its catalogue name.
    pub election: String,
    /// Its `[params]`.
    pub election_params: Value,
    /// Multicasts per second at each member (Poisson); 0 leaves them to the `multicast` command.
    pub rate_per_s: f64,
    /// The first multicast waits this long after the process starts (a leader is elected first).
    #[serde(with = "humantime_serde")]
    pub start_after: Duration,
    /// No new multicasts this long after the process started. Unset: until the run ends.
    #[serde(with = "humantime_serde")]
    pub stop_after: Option<Duration>,
    pub resend_ms: u64,
    pub gap_ms: u64,
    pub tick_ms: u64,
    pub collect_ms: u64,
    /// How long the sequencer waits to announce stability with a STABLE of its own when no ORDER
    /// carries it.
    pub announce_ms: u64,
    /// The quiet tail validity and agreement are judged in: no fault in the last `settle_ms`.
    pub settle_ms: u64,
    /// Meant to fail: a new sequencer does not collect, and numbers from its own delivered count.
    pub unsafe_no_recovery: bool,
}

impl Default for SequencerParams {
    fn default() -> Self {
        SequencerParams {
            election: "bully".into(),
            election_params: Value::Null,
            rate_per_s: 5.0,
            start_after: Duration::from_millis(600),
            stop_after: None,
            resend_ms: 100,
            gap_ms: 30,
            tick_ms: 50,
            collect_ms: 100,
            announce_ms: 2,
            settle_ms: 1500,
            unsafe_no_recovery: false,
        }
    }
}

/// The elections a sequencer can embed: those whose status names the leader and that need no
/// other nodes than the members.
pub fn elections() -> Vec<&'static dyn Algorithm> {
    vec![
        &election::bully::Bully,
        &election::ring::lelann::LeLann,
        &election::ring::chang_roberts::ChangRoberts,
        &election::raft::RaftElection,
        &election::randomized::Randomized,
        &election::timestamp::TimestampElection,
    ]
}

/// The embeddable election of this name; the error names the key and lists the known ones.
pub fn find_election(name: &str) -> Result<&'static dyn Algorithm, String> {
    elections().into_iter().find(|a| a.name() == name).ok_or_else(|| {
        let known: Vec<&str> = elections().iter().map(|a| a.name()).collect();
        format!("params.election: {name:?} is not an election a sequencer can embed; known: {}", known.join(", "))
    })
}

impl Params for SequencerParams {
    fn validate(&self, nodes: usize) -> Result<(), String> {
        let election = find_election(&self.election)?;
        let ids: Vec<NodeId> = (2..=nodes.max(2) as NodeId).collect();
        election
            .build(1, &ids, &self.election_params)
            .map_err(|e| format!("params.election_params (for {}): {e}", self.election))?;
        if !self.rate_per_s.is_finite() || !(0.0..=1000.0).contains(&self.rate_per_s) {
            return Err(format!("params.rate_per_s ({}) must be between 0 and 1000", self.rate_per_s));
        }
        for (key, v) in [
            ("resend_ms", self.resend_ms),
            ("gap_ms", self.gap_ms),
            ("tick_ms", self.tick_ms),
            ("collect_ms", self.collect_ms),
            ("announce_ms", self.announce_ms),
        ] {
            if v == 0 {
                return Err(format!("params.{key} must be above 0"));
            }
        }
        Ok(())
    }
}

/// What survives a crash: the promised epoch, the count of ids used, the delivered prefix, every
/// entry held (a majority's holding is what makes an entry stable), and the election's own state.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Durable {
    pub promised: Epoch,
    pub next_id: u64,
    pub delivered: u64,
    pub log: Vec<Slot>,
    pub election: Option<Vec<u8>>,
}

#[derive(Clone, Debug, PartialEq)]
enum Role {
    Member,
    /// A new sequencer collecting the state of a majority; `after` is its own delivered prefix.
    Collecting {
        epoch: Epoch,
        after: u64,
        replies: BTreeMap<NodeId, Reply>,
    },
    Sequencing {
        epoch: Epoch,
        next: u64,
        acks: BTreeMap<NodeId, u64>,
        stable: u64,
        announced: u64,
    },
}

/// One of this member's own messages, not delivered yet.
#[derive(Clone, Debug)]
struct Pending {
    payload: String,
    sent_at: Nanos,
}

pub struct SequencerNode {
    me: NodeId,
    params: SequencerParams,
    election: Box<dyn DynProcess>,
    election_state: Option<Vec<u8>>,
    leader: Option<NodeId>,
    promised: Epoch,
    next_id: u64,
    delivered: u64,
    log: BTreeMap<u64, Slot>,
    /// Every message id in the log, with its number: what the sequencer does not number again.
    index: BTreeMap<MsgId, u64>,
    /// The newest stability announcement known: entries of that epoch up to that number.
    stable: (Epoch, u64),
    pending: BTreeMap<MsgId, Pending>,
    role: Role,
    /// Held state changed since it was last persisted.
    dirty: bool,
    gap_armed: bool,
    /// Since when this member has been behind without delivering anything: it fetches only after
    /// `gap_ms` of that, not while an announcement is simply on its way.
    behind_since: Option<Nanos>,
    resend_armed: bool,
    announce_armed: bool,
    fetches: u64,
    started_at: Nanos,
}

impl SequencerNode {
    pub fn new(me: NodeId, params: SequencerParams, election: Box<dyn DynProcess>) -> Self {
        SequencerNode {
            me,
            params,
            election,
            election_state: None,
            leader: None,
            promised: Epoch::default(),
            next_id: 0,
            delivered: 0,
            log: BTreeMap::new(),
            index: BTreeMap::new(),
            stable: (Epoch::default(), 0),
            pending: BTreeMap::new(),
            role: Role::Member,
            dirty: false,
            gap_armed: false,
            behind_since: None,
            resend_armed: false,
            announce_armed: false,
            fetches: 0,
            started_at: 0,
        }
    }

    fn majority(ctx: &Ctx<SeqTimer>) -> usize {
        ctx.cluster_size() / 2 + 1
    }

    /// The bytes of [`Durable`], encoded from this state without copying the log.
    fn durable_bytes(&self, election: &Option<Vec<u8>>) -> Vec<u8> {
        #[derive(Serialize)]
        struct DurableRef<'a> {
            promised: Epoch,
            next_id: u64,
            delivered: u64,
            #[serde(serialize_with = "values")]
            log: &'a BTreeMap<u64, Slot>,
            election: &'a Option<Vec<u8>>,
        }
        fn values<S: serde::Serializer>(log: &&BTreeMap<u64, Slot>, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(log.values())
        }
        let state = DurableRef {
            promised: self.promised,
            next_id: self.next_id,
            delivered: self.delivered,
            log: &self.log,
            election,
        };
        rmp_serde::to_vec_named(&state).expect("persisted state always encodes")
    }

    fn persist(&mut self, ctx: &mut Ctx<SeqTimer>) {
        self.dirty = false;
        let bytes = self.durable_bytes(&self.election_state);
        ctx.push_persisted(bytes);
    }

    // ---- the embedded election ----

    /// Runs one handler of the election with this handler's world, adopts its effects, and
    /// follows a change of leader.
    fn election_step(&mut self, ctx: &mut Ctx<SeqTimer>, step: impl FnOnce(&mut dyn DynProcess, World) -> Vec<Effect>) {
        let effects = step(self.election.as_mut(), ctx.nested_world());
        let mut state = self.election_state.take();
        let this = &*self;
        ctx.adopt(effects, SeqMsg::Election, SeqTimer::Election, |bytes| {
            state = Some(bytes);
            this.durable_bytes(&state)
        });
        self.election_state = state;
        self.follow_election(ctx);
    }

    fn follow_election(&mut self, ctx: &mut Ctx<SeqTimer>) {
        let leader = self.election.status().leader;
        if leader == self.leader {
            return;
        }
        self.leader = leader;
        match leader {
            Some(l) if l == self.me => self.become_sequencer(ctx, 0),
            Some(l) => {
                self.role = Role::Member;
                self.resend_all(ctx, l);
            }
            None => self.role = Role::Member,
        }
    }

    // ---- multicast ----

    fn multicast(&mut self, ctx: &mut Ctx<SeqTimer>, payload: String) -> MsgId {
        self.next_id += 1;
        let id = MsgId { origin: self.me, n: self.next_id };
        self.persist(ctx);
        ctx.emit(&BroadcastEvent::Multicast { id, payload: payload.clone() });
        self.pending.insert(id, Pending { payload, sent_at: ctx.now() });
        self.submit(ctx, id);
        self.arm_resend(ctx);
        id
    }

    fn submit(&mut self, ctx: &mut Ctx<SeqTimer>, id: MsgId) {
        let (Some(leader), Some(p)) = (self.leader, self.pending.get_mut(&id)) else { return };
        p.sent_at = ctx.now();
        let payload = p.payload.clone();
        if leader == self.me {
            self.sequence(ctx, id, payload);
        } else {
            ctx.send(leader, &SeqMsg::Submit { id, payload });
        }
    }

    fn resend_all(&mut self, ctx: &mut Ctx<SeqTimer>, to: NodeId) {
        let ids: Vec<MsgId> = self.pending.keys().copied().collect();
        for id in ids {
            if self.leader == Some(to) {
                self.submit(ctx, id);
            } else if let Some(p) = self.pending.get_mut(&id) {
                p.sent_at = ctx.now();
                ctx.send(to, &SeqMsg::Submit { id, payload: p.payload.clone() });
            }
        }
    }

    fn arm_resend(&mut self, ctx: &mut Ctx<SeqTimer>) {
        if !self.resend_armed && !self.pending.is_empty() {
            self.resend_armed = true;
            ctx.set_timer(SeqTimer::Resend, self.params.resend_ms * MS);
        }
    }

    // ---- the sequencer ----

    fn sequence(&mut self, ctx: &mut Ctx<SeqTimer>, id: MsgId, payload: String) {
        let Role::Sequencing { epoch, next, stable, announced, .. } = &mut self.role else { return };
        if self.index.contains_key(&id) {
            return; // numbered already: the origin resent it before it delivered it
        }
        let (epoch, seq, stable_now) = (*epoch, *next, *stable);
        *next += 1;
        *announced = (*announced).max(stable_now);
        let body = Some(Entry { id, payload });
        self.log.insert(seq, Slot { seq, epoch, body: body.clone(), fixed: false });
        self.index.insert(id, seq);
        ctx.emit(&BroadcastEvent::Sequenced { seq, id, epoch });
        self.persist(ctx);
        ctx.broadcast(&SeqMsg::Order { epoch, seq, body, stable: stable_now });
        self.update_stability(ctx);
    }

    /// Takes the sequencer's role for an epoch above `above` and every epoch promised.
    fn become_sequencer(&mut self, ctx: &mut Ctx<SeqTimer>, above: u64) {
        let epoch = Epoch { round: self.promised.round.max(above) + 1, node: self.me };
        self.promised = epoch;
        let after = self.delivered;
        let own = Reply { delivered: after, slots: self.log.range(after + 1..).map(|(_, s)| s.clone()).collect() };
        let replies = BTreeMap::from([(self.me, own)]);
        if self.params.unsafe_no_recovery {
            return self.install(ctx, epoch, after, replies);
        }
        self.persist(ctx);
        self.role = Role::Collecting { epoch, after, replies };
        ctx.broadcast(&SeqMsg::Collect { epoch, after });
        ctx.set_timer(SeqTimer::Collect, self.params.collect_ms * MS);
        self.try_install(ctx);
    }

    fn try_install(&mut self, ctx: &mut Ctx<SeqTimer>) {
        let Role::Collecting { epoch, after, replies } = &self.role else { return };
        if replies.len() >= Self::majority(ctx) {
            let (epoch, after, replies) = (*epoch, *after, replies.clone());
            ctx.cancel_timer(SeqTimer::Collect);
            self.install(ctx, epoch, after, replies);
        }
    }

    /// The recovery rule: the merged sequence above `after` re-issued in `epoch`.
    fn install(&mut self, ctx: &mut Ctx<SeqTimer>, epoch: Epoch, after: u64, replies: BTreeMap<NodeId, Reply>) {
        let mut merged: BTreeMap<u64, Slot> = BTreeMap::new();
        if !self.params.unsafe_no_recovery {
            for slot in replies.values().flat_map(|r| &r.slots).filter(|s| s.seq > after) {
                let keep = merged.get(&slot.seq).is_some_and(|m| m.fixed || (!slot.fixed && m.epoch >= slot.epoch));
                if !keep {
                    merged.insert(slot.seq, slot.clone());
                }
            }
        }
        // A message at two numbers (renumbered by a sequencer that never saw the first one, so
        // that one was never stable) keeps the delivered number, or else the newest epoch's.
        let mut best: BTreeMap<MsgId, (bool, Epoch, u64)> = BTreeMap::new();
        for s in self.log.range(..=after).map(|(_, s)| s).chain(merged.values()) {
            if let Some(b) = &s.body {
                let rank = (s.fixed || s.seq <= after, s.epoch, s.seq);
                let e = best.entry(b.id).or_insert(rank);
                *e = (*e).max(rank);
            }
        }
        for s in merged.values_mut() {
            if s.body.as_ref().is_some_and(|b| best[&b.id].2 != s.seq) {
                s.body = None;
            }
        }
        let high = merged.keys().next_back().copied().unwrap_or(after).max(after);
        self.log.retain(|seq, _| *seq <= after);
        for seq in after + 1..=high {
            let old = merged.remove(&seq);
            let fixed = old.as_ref().is_some_and(|s| s.fixed);
            self.log.insert(seq, Slot { seq, epoch, body: old.and_then(|s| s.body), fixed });
        }
        self.reindex();
        let acks: BTreeMap<NodeId, u64> = replies.iter().map(|(n, r)| (*n, r.delivered)).collect();
        let low = acks.values().copied().min().unwrap_or(after).min(after);
        self.role = Role::Sequencing { epoch, next: high + 1, acks, stable: after, announced: after };
        self.stable = (epoch, after);
        ctx.emit(&BroadcastEvent::Sequencer {
            epoch,
            next: high + 1,
            collected: replies.keys().copied().collect(),
            reissued: high - after,
        });
        self.persist(ctx);
        for (node, reply) in replies.iter().filter(|(n, r)| **n != self.me && r.delivered < after) {
            let slots: Vec<Slot> =
                self.log.range(reply.delivered.max(low) + 1..=after).map(|(_, s)| s.clone()).collect();
            for chunk in slots.chunks(BATCH) {
                ctx.send(*node, &SeqMsg::Final { slots: chunk.to_vec() });
            }
        }
        for seq in after + 1..=high {
            let body = self.log[&seq].body.clone();
            ctx.broadcast(&SeqMsg::Order { epoch, seq, body, stable: after });
        }
        ctx.set_timer(SeqTimer::Tick, self.params.tick_ms * MS);
        self.update_stability(ctx);
    }

    fn reindex(&mut self) {
        self.index = self.log.values().filter_map(|s| s.body.as_ref().map(|b| (b.id, s.seq))).collect();
    }

    /// The highest number up to which this member holds every entry, delivered or of `epoch`.
    fn contiguous(&self, epoch: Epoch) -> u64 {
        let mut k = self.delivered;
        while self.log.get(&(k + 1)).is_some_and(|s| s.fixed || s.epoch == epoch) {
            k += 1;
        }
        k
    }

    /// The sequencer's count: the highest number a majority (itself included) holds.
    fn update_stability(&mut self, ctx: &mut Ctx<SeqTimer>) {
        let Role::Sequencing { epoch, .. } = &self.role else { return };
        let mine = self.contiguous(*epoch);
        let majority = Self::majority(ctx);
        let Role::Sequencing { epoch, acks, stable, .. } = &mut self.role else { return };
        acks.insert(self.me, mine);
        let mut held: Vec<u64> = acks.values().copied().collect();
        held.sort_unstable_by(|a, b| b.cmp(a));
        let Some(&s) = held.get(majority - 1) else { return };
        if s <= *stable {
            return;
        }
        *stable = s;
        self.stable = (*epoch, s);
        self.save(ctx);
        if !self.announce_armed {
            self.announce_armed = true;
            ctx.set_timer(SeqTimer::Announce, self.params.announce_ms * MS);
        }
    }

    // ---- members ----

    /// Delivers what is deliverable, persists, then records the deliveries (so a crash between
    /// them can never deliver twice).
    fn save(&mut self, ctx: &mut Ctx<SeqTimer>) {
        let (before, mut delivered) = (self.delivered, Vec::new());
        while let Some(slot) = self.log.get_mut(&(self.delivered + 1)) {
            if !(slot.fixed || (slot.epoch == self.stable.0 && slot.seq <= self.stable.1)) {
                break;
            }
            slot.fixed = true;
            self.delivered += 1;
            if let Some(entry) = &slot.body {
                delivered.push((slot.seq, entry.clone()));
            }
        }
        if self.dirty || self.delivered > before {
            self.persist(ctx);
        }
        for (seq, entry) in delivered {
            self.pending.remove(&entry.id);
            ctx.emit(&BroadcastEvent::Delivered { seq, id: entry.id, payload: entry.payload });
        }
        if !self.behind() {
            self.behind_since = None;
        } else if self.behind_since.is_none() || self.delivered > before {
            self.behind_since = Some(ctx.now());
        }
        if self.behind() {
            self.arm_gap(ctx);
        }
    }

    /// Whether this member holds or knows of entries it has not delivered.
    fn behind(&self) -> bool {
        self.log.range(self.delivered + 1..).next().is_some() || self.stable.1 > self.delivered
    }

    fn arm_gap(&mut self, ctx: &mut Ctx<SeqTimer>) {
        if !self.gap_armed {
            self.gap_armed = true;
            ctx.set_timer(SeqTimer::Gap, self.params.gap_ms * MS);
        }
    }

    /// A newer epoch than any promised: promise it, and a sequencer of an older one steps down;
    /// if the election still names it leader, it takes the role again above that epoch after
    /// `collect_ms` (the newer epoch's node may have stopped leading since it collected).
    fn promise(&mut self, ctx: &mut Ctx<SeqTimer>, epoch: Epoch) {
        if epoch > self.promised {
            self.promised = epoch;
            self.dirty = true;
            if !matches!(self.role, Role::Member) {
                self.role = Role::Member;
                if self.leader == Some(self.me) {
                    ctx.set_timer(SeqTimer::Retake, self.params.collect_ms * MS);
                }
            }
        }
    }

    fn hold(&mut self, slot: Slot) {
        if slot.seq <= self.delivered || self.log.get(&slot.seq).is_some_and(|s| s.fixed || *s == slot) {
            return;
        }
        self.dirty = true;
        if let Some(old) = self.log.insert(slot.seq, slot.clone()).and_then(|s| s.body) {
            self.index.remove(&old.id);
        }
        if let Some(b) = &slot.body {
            self.index.insert(b.id, slot.seq);
        }
    }

    fn on_order(
        &mut self,
        ctx: &mut Ctx<SeqTimer>,
        from: NodeId,
        epoch: Epoch,
        seq: u64,
        body: Option<Entry>,
        stable: u64,
    ) {
        if epoch < self.promised {
            return ctx.send(from, &SeqMsg::Reject { epoch, promised: self.promised });
        }
        let newer = epoch > self.promised;
        self.promise(ctx, epoch);
        self.hold(Slot { seq, epoch, body, fixed: false });
        if (epoch, stable) > self.stable {
            self.stable = (epoch, stable);
        }
        self.save(ctx);
        ctx.send(from, &SeqMsg::Ack { epoch, upto: self.contiguous(epoch) });
        if newer {
            self.resend_all(ctx, from);
        }
    }

    fn on_fetch(&mut self, ctx: &mut Ctx<SeqTimer>, from: NodeId, after: u64) {
        let delivered = self.log.range(after + 1..).take_while(|(seq, _)| **seq <= self.delivered);
        let slots: Vec<Slot> = delivered.take(BATCH).map(|(_, s)| s.clone()).collect();
        if !slots.is_empty() {
            ctx.send(from, &SeqMsg::Final { slots });
        }
        if let Role::Sequencing { epoch, next, stable, .. } = self.role {
            for seq in (after.max(self.delivered) + 1..next).take(BATCH) {
                let body = self.log.get(&seq).and_then(|s| s.body.clone());
                ctx.send(from, &SeqMsg::Order { epoch, seq, body, stable });
            }
        }
    }

    fn on_collect(&mut self, ctx: &mut Ctx<SeqTimer>, from: NodeId, epoch: Epoch, after: u64) {
        if epoch < self.promised {
            return ctx.send(from, &SeqMsg::Reject { epoch, promised: self.promised });
        }
        if epoch > self.promised {
            self.promise(ctx, epoch);
            self.persist(ctx);
        }
        let slots = self.log.range(after + 1..).map(|(_, s)| s.clone()).collect();
        ctx.send(from, &SeqMsg::State { epoch, reply: Reply { delivered: self.delivered, slots } });
    }

    fn on_tick(&mut self, ctx: &mut Ctx<SeqTimer>) {
        let Role::Sequencing { epoch, next, acks, stable, announced } = &mut self.role else { return };
        let (epoch, last, stable) = (*epoch, *next - 1, *stable);
        let lagging: Vec<(NodeId, u64)> =
            ctx.peers().iter().map(|p| (*p, acks.get(p).copied().unwrap_or(0))).filter(|(_, a)| *a < last).collect();
        if stable > *announced {
            *announced = stable;
            ctx.broadcast(&SeqMsg::Stable { epoch, upto: stable });
        }
        for (peer, acked) in lagging {
            let body = self.log.get(&(acked + 1)).and_then(|s| s.body.clone());
            ctx.send(peer, &SeqMsg::Order { epoch, seq: acked + 1, body, stable });
        }
        ctx.set_timer(SeqTimer::Tick, self.params.tick_ms * MS);
    }

    fn on_gap(&mut self, ctx: &mut Ctx<SeqTimer>) {
        self.gap_armed = false;
        if !self.behind() || matches!(self.role, Role::Sequencing { .. }) {
            self.fetches = 0;
            return;
        }
        let since = *self.behind_since.get_or_insert(ctx.now());
        let waited = ctx.now().saturating_sub(since);
        if waited < self.params.gap_ms * MS {
            self.gap_armed = true;
            return ctx.set_timer(SeqTimer::Gap, self.params.gap_ms * MS - waited);
        }
        self.behind_since = Some(ctx.now());
        self.fetches += 1;
        let peers = ctx.peers().to_vec();
        let to = match self.leader {
            Some(l) if l != self.me && !self.fetches.is_multiple_of(3) => Some(l),
            _ if peers.is_empty() => None,
            _ => Some(peers[(self.fetches as usize / 3) % peers.len()]),
        };
        if let Some(to) = to {
            ctx.send(to, &SeqMsg::Fetch { after: self.delivered });
        }
        self.arm_gap(ctx);
    }

    fn workload_on(&self, ctx: &Ctx<SeqTimer>) -> bool {
        let stop = self.params.stop_after.map(|d| self.started_at + d.as_nanos() as Nanos);
        self.params.rate_per_s > 0.0 && stop.is_none_or(|s| ctx.now() < s)
    }

    fn next_multicast(&self, ctx: &mut Ctx<SeqTimer>) -> Nanos {
        use rand_distr::{Distribution, Exp};
        let seconds = Exp::new(self.params.rate_per_s).map_or(1.0, |d| d.sample(ctx.rng()));
        (seconds * 1e9) as Nanos
    }
}

impl Process for SequencerNode {
    type Msg = SeqMsg;
    type Timer = SeqTimer;
    type Durable = Durable;

    fn on_start(&mut self, ctx: &mut Ctx<SeqTimer>, recovered: Option<Durable>) {
        self.started_at = ctx.now();
        if let Some(d) = recovered {
            self.promised = d.promised;
            self.next_id = d.next_id;
            self.delivered = d.delivered;
            self.log = d.log.into_iter().map(|s| (s.seq, s)).collect();
            self.reindex();
            if let Some(bytes) = &d.election {
                // The host decoded this state; the election's part inside it must decode too.
                if let Err(e) = self.election.recover(bytes) {
                    panic!("persisted state of the embedded {} election: {e}", self.params.election);
                }
            }
            self.election_state = d.election;
        }
        self.election_step(ctx, |e, w| e.on_start(w));
        if self.params.rate_per_s > 0.0 {
            let first = self.params.start_after.as_nanos() as Nanos + self.next_multicast(ctx);
            ctx.set_timer(SeqTimer::Multicast, first);
        }
        if self.behind() {
            self.arm_gap(ctx);
        }
    }

    fn on_message(&mut self, ctx: &mut Ctx<SeqTimer>, from: NodeId, msg: SeqMsg) {
        match msg {
            SeqMsg::Election(body) => self.election_step(ctx, |e, w| e.on_body(w, from, &body).unwrap_or_default()),
            SeqMsg::Submit { id, payload } => self.sequence(ctx, id, payload),
            SeqMsg::Order { epoch, seq, body, stable } => self.on_order(ctx, from, epoch, seq, body, stable),
            SeqMsg::Ack { epoch, upto } => {
                if let Role::Sequencing { epoch: mine, acks, .. } = &mut self.role {
                    if *mine == epoch {
                        let acked = acks.entry(from).or_default();
                        *acked = (*acked).max(upto);
                        self.update_stability(ctx);
                    }
                }
            }
            SeqMsg::Stable { epoch, upto } => {
                if epoch >= self.promised && (epoch, upto) > self.stable {
                    self.promise(ctx, epoch);
                    self.stable = (epoch, upto);
                    self.save(ctx);
                }
            }
            SeqMsg::Fetch { after } => self.on_fetch(ctx, from, after),
            SeqMsg::Final { slots } => {
                for slot in slots {
                    self.hold(Slot { fixed: true, ..slot });
                }
                self.save(ctx);
            }
            SeqMsg::Collect { epoch, after } => self.on_collect(ctx, from, epoch, after),
            SeqMsg::State { epoch, reply } => {
                if let Role::Collecting { epoch: mine, replies, .. } = &mut self.role {
                    if *mine == epoch {
                        replies.insert(from, reply);
                        self.try_install(ctx);
                    }
                }
            }
            SeqMsg::Reject { epoch, promised } => {
                let mine = match &self.role {
                    Role::Collecting { epoch, .. } | Role::Sequencing { epoch, .. } => Some(*epoch),
                    Role::Member => None,
                };
                if mine == Some(epoch) && promised > epoch {
                    self.role = Role::Member;
                    if self.leader == Some(self.me) {
                        self.become_sequencer(ctx, promised.round);
                    }
                }
            }
        }
    }

    fn on_timer(&mut self, ctx: &mut Ctx<SeqTimer>, timer: SeqTimer) {
        match timer {
            SeqTimer::Election(key) => self.election_step(ctx, |e, w| e.on_timer(w, &key)),
            SeqTimer::Multicast => {
                if self.workload_on(ctx) {
                    let payload = format!("m{}.{}", self.me, self.next_id + 1);
                    self.multicast(ctx, payload);
                    let gap = self.next_multicast(ctx);
                    ctx.set_timer(SeqTimer::Multicast, gap);
                }
            }
            SeqTimer::Resend => {
                self.resend_armed = false;
                let due: Vec<MsgId> = self
                    .pending
                    .iter()
                    .filter(|(_, p)| ctx.now().saturating_sub(p.sent_at) >= self.params.resend_ms * MS)
                    .map(|(id, _)| *id)
                    .collect();
                for id in due {
                    self.submit(ctx, id);
                }
                self.arm_resend(ctx);
            }
            SeqTimer::Gap => self.on_gap(ctx),
            SeqTimer::Tick => self.on_tick(ctx),
            SeqTimer::Collect => {
                if let Role::Collecting { epoch, after, replies } = &self.role {
                    let (epoch, after) = (*epoch, *after);
                    let missing: Vec<NodeId> =
                        ctx.peers().iter().copied().filter(|p| !replies.contains_key(p)).collect();
                    for p in missing {
                        ctx.send(p, &SeqMsg::Collect { epoch, after });
                    }
                    ctx.set_timer(SeqTimer::Collect, self.params.collect_ms * MS);
                }
            }
            SeqTimer::Retake => {
                if self.leader == Some(self.me) && self.role == Role::Member {
                    self.become_sequencer(ctx, self.promised.round);
                }
            }
            SeqTimer::Announce => {
                self.announce_armed = false;
                if let Role::Sequencing { epoch, stable, announced, .. } = &mut self.role {
                    if *stable > *announced {
                        *announced = *stable;
                        let msg = SeqMsg::Stable { epoch: *epoch, upto: *stable };
                        ctx.broadcast(&msg);
                    }
                }
            }
        }
    }

    /// `multicast TEXT`; anything else goes to the embedded election (e.g. bully's `elect`).
    fn on_command(&mut self, ctx: &mut Ctx<SeqTimer>, args: &[String]) -> Result<String, String> {
        match args.split_first() {
            Some((first, text)) if first == "multicast" && !text.is_empty() => {
                let id = self.multicast(ctx, text.join(" "));
                Ok(format!("multicast {id}"))
            }
            Some((first, _)) if first == "multicast" => Err("multicast needs a text: multicast TEXT".into()),
            _ => {
                let mut result = Err(String::new());
                self.election_step(ctx, |e, w| {
                    let (r, fx) = e.on_command(w, args);
                    result = r;
                    fx
                });
                result.map_err(|e| format!("{e}; the sequencer knows: multicast TEXT"))
            }
        }
    }

    fn status(&self) -> Status {
        let role = match self.role {
            Role::Member => "member",
            Role::Collecting { .. } => "recovering",
            Role::Sequencing { .. } => "sequencer",
        };
        Status { role: role.into(), leader: self.leader, term: Some(self.promised.round) }
    }
}

/// The catalogue entry.
pub struct Sequencer;

impl Spec for Sequencer {
    const NAME: &'static str = "sequencer";
    const FAMILY: Family = Family::Broadcast;
    const SUMMARY: &'static str = "total-order multicast through a sequencer that an embedded election elects; a new sequencer recovers the sequence from a majority";
    type Params = SequencerParams;

    fn build(me: NodeId, peers: &[NodeId], p: &SequencerParams) -> Result<impl Process, String> {
        let election = find_election(&p.election)?
            .build(me, peers, &p.election_params)
            .map_err(|e| format!("params.election_params (for {}): {e}", p.election))?;
        Ok(SequencerNode::new(me, p.clone(), election))
    }

    fn properties() -> Vec<PropertyInfo> {
        check::properties()
    }

    fn check(run: &Execution, p: &SequencerParams) -> CheckReport {
        check::check_sequencer(run, p)
    }
}
