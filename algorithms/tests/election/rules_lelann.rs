//! LeLann's rules one at a time (LeLann 1977), as `election/ring/lelann.rs` states them: one
//! handler called on node 3 of the ring 1 → 2 → 3 → 4 → 5 → 1, the exact effects compared. The
//! ring's repair, the heartbeats and the timers are the shared ring host's, tested in
//! `rules_chang_roberts`.

use crate::common::rules::ring::{hop, participates, pass};
use crate::common::rules::*;
use algorithms::check::election::Attributes;
use algorithms::election::ring::lelann::{LeLannMsg, LeLannNode};
use algorithms::election::ring::{RingMsg, RingNode, RingParams};
use algorithms::NodeId;
use serde_json::json;

use LeLannMsg::{Coordinator, Election};
use RingMsg::{Ack, Heartbeat, Pass};

type LeLann = RingNode<LeLannNode>;
type Msg = RingMsg<LeLannMsg>;

fn params() -> RingParams {
    RingParams { timeout_jitter_ms: 0, ..RingParams::default() }
}

fn node(me: NodeId) -> Node<LeLann> {
    let peers: Vec<NodeId> = (1..=5).filter(|p| *p != me).collect();
    Node::new(me, &peers, RingNode(LeLannNode::new(me, &peers, params())))
}

fn election(ids: &[NodeId], tag: u32) -> LeLannMsg {
    Election { ids: ids.to_vec(), tag, attributes: vec![] }
}

/// The random tag of the first ELECTION among `fx`.
fn tag_of(fx: &[Fx<Msg>]) -> u32 {
    fx.iter()
        .find_map(|e| match e {
            Fx::Send(_, Pass { body: Election { tag, .. }, .. }) => Some(*tag),
            _ => None,
        })
        .expect("an election sent")
}

/// Node `me`, started: the initiator of an election with this tag, its first hop acknowledged.
fn initiator(me: NodeId) -> (Node<LeLann>, u32) {
    let mut n = node(me);
    let tag = tag_of(&n.start());
    let successor = me % 5 + 1;
    n.deliver(successor, Ack { seq: 1 });
    (n, tag)
}

/// Node 3, no longer a participant: it follows node 5 (it passed COORDINATOR(5) on as hop 2).
fn follower_of_5() -> Node<LeLann> {
    let (mut n, _) = initiator(3);
    n.deliver(2, pass(40, 3, Coordinator { leader: 5, initiator: 1, attribute: 0 }));
    n.deliver(4, Ack { seq: 2 });
    assert_eq!(n.status(), status("follower", Some(5)));
    n
}

/// Node 3 takes node 5 as leader.
fn follows_5() -> Vec<Fx<Msg>> {
    vec![
        cancel_timer("election"),
        event("leader", json!({ "leader": 5 })),
        cancel_timer("heartbeat"),
        set_timer("leader_timeout", 250),
    ]
}

/// "An initiator marks itself a participant and sends ELECTION([its id]) to its successor";
/// "processes call an election when they start".
#[test]
fn a_starting_process_initiates_sending_election_with_its_id_to_its_successor() {
    let mut n = node(3);
    let fx = n.start();
    assert_eq!(fx, [participates(true), hop(1, 1, election(&[3], tag_of(&fx)))].concat());
    assert_eq!(n.status(), status("electing", None));
}

/// "A process receiving someone else's ELECTION(ids) marks itself a participant, appends its id
/// and passes the message on".
#[test]
fn someone_elses_election_collects_this_id_and_goes_on() {
    let mut n = follower_of_5();
    let fx = [vec![send(2, Ack { seq: 9 })], participates(false), hop(3, 3, election(&[1, 2, 3], 77))].concat();
    assert_eq!(n.deliver(2, pass(9, 2, election(&[1, 2], 77))), fx);
    assert_eq!(n.status().role, "electing");
}

/// "Several initiators run their elections side by side: each message goes all the way round":
/// a participant with an election of its own still appends its id to another's and passes it on.
#[test]
fn another_initiators_election_passes_a_participant_too() {
    let (mut n, _) = initiator(3);
    let fx = [vec![send(2, Ack { seq: 9 })], hop(2, 3, election(&[1, 2, 3], 77))].concat();
    assert_eq!(n.deliver(2, pass(9, 2, election(&[1, 2], 77))), fx);
}

/// "When its own ELECTION comes back, the initiator holds every live id: it picks the highest as
/// leader and sends COORDINATOR(leader) round the ring".
#[test]
fn its_own_election_back_the_initiator_picks_the_highest_and_announces_it() {
    let (mut n, tag) = initiator(3);
    let fx =
        [vec![send(2, Ack { seq: 9 })], follows_5(), hop(2, 1, Coordinator { leader: 5, initiator: 3, attribute: 0 })]
            .concat();
    assert_eq!(n.deliver(2, pass(9, 5, election(&[3, 4, 5, 1, 2], tag))), fx);
    assert_eq!(n.status(), status("follower", Some(5)));
}

/// "The process picked learns it is elected": here the initiator picks itself.
#[test]
fn an_initiator_that_picks_itself_is_elected_and_leads() {
    let (mut n, tag) = initiator(5);
    let fx = [
        vec![
            send(4, Ack { seq: 9 }),
            cancel_timer("election"),
            event("elected", json!({ "leader": 5 })),
            event("leader", json!({ "leader": 5 })),
            cancel_timer("leader_timeout"),
        ],
        sends(&[1, 2, 3, 4], Heartbeat),
        vec![
            set_timer("heartbeat", 50),
            send(1, pass(2, 1, Coordinator { leader: 5, initiator: 5, attribute: 0 })),
            set_timer("ack", 30),
        ],
    ]
    .concat();
    assert_eq!(n.deliver(4, pass(9, 5, election(&[5, 1, 2, 3, 4], tag))), fx);
    assert_eq!(n.status(), status("leader", Some(5)));
}

/// "... every process records the leader and stops being a participant", and passes it on; the
/// process picked learns it is elected.
#[test]
fn coordinator_is_recorded_and_passed_on_and_the_one_picked_learns_it_is_elected() {
    let (mut n, _) = initiator(3);
    let fx =
        [vec![send(2, Ack { seq: 9 })], follows_5(), hop(2, 3, Coordinator { leader: 5, initiator: 1, attribute: 0 })]
            .concat();
    assert_eq!(n.deliver(2, pass(9, 2, Coordinator { leader: 5, initiator: 1, attribute: 0 })), fx);

    let (mut five, _) = initiator(5);
    let fx = [
        vec![
            send(4, Ack { seq: 9 }),
            cancel_timer("election"),
            event("elected", json!({ "leader": 5 })),
            event("leader", json!({ "leader": 5 })),
            cancel_timer("leader_timeout"),
        ],
        sends(&[1, 2, 3, 4], Heartbeat),
        vec![
            set_timer("heartbeat", 50),
            send(1, pass(2, 5, Coordinator { leader: 5, initiator: 1, attribute: 0 })),
            set_timer("ack", 30),
        ],
    ]
    .concat();
    assert_eq!(five.deliver(4, pass(9, 4, Coordinator { leader: 5, initiator: 1, attribute: 0 })), fx);
    assert_eq!(five.status(), status("leader", Some(5)));
}

/// "... the message stops when it is back at the initiator."
#[test]
fn coordinator_stops_back_at_its_initiator() {
    let (mut n, tag) = initiator(3);
    n.deliver(2, pass(9, 5, election(&[3, 4, 5, 1, 2], tag)));
    n.deliver(4, Ack { seq: 2 });
    assert_eq!(
        n.deliver(2, pass(10, 5, Coordinator { leader: 5, initiator: 3, attribute: 0 })),
        vec![send(2, Ack { seq: 10 })]
    );
}

/// "Each election message carries a random tag, so one from an earlier election that comes back
/// is dropped."
#[test]
fn its_own_election_with_another_tag_is_dropped() {
    let (mut n, tag) = initiator(3);
    let stale = tag.wrapping_add(1);
    assert_eq!(n.deliver(2, pass(9, 5, election(&[3, 4, 5, 1, 2], stale))), vec![send(2, Ack { seq: 9 })]);
    assert_eq!(n.status().role, "electing");
}

/// "A process that hears a lower id announced knows the election skipped it: it swallows the
/// announcement and calls a new election".
#[test]
fn a_lower_id_announced_is_swallowed_and_a_new_election_called() {
    let mut n = follower_of_5();
    let fx = n.deliver(2, pass(9, 2, Coordinator { leader: 2, initiator: 1, attribute: 0 }));
    let expected = [vec![send(2, Ack { seq: 9 })], participates(true), hop(3, 1, election(&[3], tag_of(&fx)))].concat();
    assert_eq!(fx, expected);
}

// ---- by attribute ----

/// Node `me` of five, started by attribute: node 1 has 90, node 3 has 40, the others none.
fn by_attribute(me: NodeId) -> (Node<LeLann>, Vec<Fx<Msg>>) {
    let attributes = Attributes([(1, 90), (3, 40)].into_iter().collect());
    let peers: Vec<NodeId> = (1..=5).filter(|p| *p != me).collect();
    let mut n = Node::new(me, &peers, RingNode(LeLannNode::new(me, &peers, RingParams { attributes, ..params() })));
    let fx = n.start();
    (n, fx)
}

fn with_attributes(ids: &[NodeId], attributes: &[u64], tag: u32) -> LeLannMsg {
    Election { ids: ids.to_vec(), tag, attributes: attributes.to_vec() }
}

/// "LeLann carries (attribute, id)": every process appends its attribute beside its id, and the
/// initiator picks the best attribute, node 1 here, not the highest id.
#[test]
fn by_attribute_the_election_collects_attributes_and_the_initiator_picks_the_best() {
    let (mut n, fx) = by_attribute(3);
    let tag = tag_of(&fx);
    assert_eq!(fx, [participates(true), hop(1, 1, with_attributes(&[3], &[40], tag))].concat());
    let fx = n.deliver(2, pass(9, 2, with_attributes(&[1, 2], &[90, 0], 77)));
    assert!(fx.contains(&send(4, pass(2, 3, with_attributes(&[1, 2, 3], &[90, 0, 40], 77)))), "{fx:?}");
    let home = with_attributes(&[3, 4, 5, 1, 2], &[40, 0, 0, 90, 0], tag);
    let fx = n.deliver(2, pass(10, 5, home));
    assert!(fx.contains(&send(4, pass(3, 1, Coordinator { leader: 1, initiator: 3, attribute: 90 }))), "{fx:?}");
    assert_eq!(n.status().leader, Some(1));
}

/// A COORDINATOR for node 5, a worse attribute than node 3's, is swallowed: node 3 calls a new
/// election (the announcement skipped it); one for node 1 is followed.
#[test]
fn by_attribute_a_worse_leader_announced_calls_a_new_election() {
    let (mut n, _) = by_attribute(3);
    n.deliver(4, Ack { seq: 1 });
    n.deliver(2, pass(9, 2, Coordinator { leader: 1, initiator: 2, attribute: 90 }));
    assert_eq!(n.status(), status("follower", Some(1)));
    let fx = n.deliver(2, pass(10, 2, Coordinator { leader: 5, initiator: 2, attribute: 0 }));
    assert!(fx.contains(&event("election_started", json!({ "initiator": true }))), "{fx:?}");
}
