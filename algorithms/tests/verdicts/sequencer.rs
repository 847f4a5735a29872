//! Runs for the sequencer's properties: each breaks one property, or gives it nothing to judge.
//! Three members, bully as the election (its defaults), `settle_ms` the default 1500 ms.

use super::trace::Trace;
use super::{Case::*, Entry};
use algorithms::broadcast::event::{BroadcastEvent, MsgId};
use algorithms::core::event::Event;
use algorithms::{Execution, NodeId};

pub const CASES: &[Entry] = &[
    case!("sequencer", "total_order", Violating, sequencer_two_messages_at_one_position),
    case!("sequencer", "total_order", Violating, sequencer_a_member_delivers_backwards),
    case!("sequencer", "total_order", NothingToJudge, sequencer_nothing_delivered),
    case!("sequencer", "agreement", Violating, sequencer_one_correct_member_never_delivers),
    case!("sequencer", "agreement", NothingToJudge, sequencer_a_fault_in_the_tail),
    case!("sequencer", "integrity", Violating, sequencer_a_message_delivered_twice),
    case!("sequencer", "integrity", Violating, sequencer_a_message_nobody_multicast),
    case!("sequencer", "integrity", NothingToJudge, sequencer_nothing_delivered),
    case!("sequencer", "validity", Violating, sequencer_a_correct_origin_never_delivers_its_own),
    case!("sequencer", "validity", NothingToJudge, sequencer_a_fault_in_the_tail),
    case!("sequencer", "election", Violating, sequencer_everyone_follows_a_lower_id),
    case!("sequencer", "election", NothingToJudge, sequencer_nothing_delivered),
];

fn id(origin: NodeId, n: u64) -> MsgId {
    MsgId { origin, n }
}

fn emit(t: &mut Trace, ms: u64, node: NodeId, event: BroadcastEvent) {
    let (name, data) = event.to_parts();
    t.event(ms, node, &name, data);
}

fn multicast(t: &mut Trace, ms: u64, m: MsgId) {
    emit(t, ms, m.origin, BroadcastEvent::Multicast { id: m, payload: format!("m{m}") });
}

fn deliver(t: &mut Trace, ms: u64, nodes: &[NodeId], seq: u64, m: MsgId) {
    for n in nodes {
        emit(t, ms, *n, BroadcastEvent::Delivered { seq, id: m, payload: format!("m{m}") });
    }
}

fn sequencer_two_messages_at_one_position() -> Execution {
    let mut t = Trace::new(3);
    multicast(&mut t, 10, id(1, 1));
    multicast(&mut t, 10, id(2, 1));
    deliver(&mut t, 20, &[1, 3], 1, id(1, 1));
    deliver(&mut t, 20, &[2], 1, id(2, 1));
    t.end(3000)
}

fn sequencer_a_member_delivers_backwards() -> Execution {
    let mut t = Trace::new(3);
    multicast(&mut t, 10, id(1, 1));
    multicast(&mut t, 10, id(2, 1));
    deliver(&mut t, 20, &[1], 2, id(2, 1));
    deliver(&mut t, 21, &[1], 1, id(1, 1));
    t.end(3000)
}

/// Nothing multicast, nothing delivered, no leader: 400 ms and the run ends.
fn sequencer_nothing_delivered() -> Execution {
    Trace::new(3).end(400)
}

fn sequencer_one_correct_member_never_delivers() -> Execution {
    let mut t = Trace::new(3);
    multicast(&mut t, 10, id(1, 1));
    deliver(&mut t, 20, &[1, 2], 1, id(1, 1));
    t.end(3000)
}

/// Everyone delivers, but node 3 is killed 100 ms before the end: no quiet tail.
fn sequencer_a_fault_in_the_tail() -> Execution {
    let mut t = Trace::new(3);
    multicast(&mut t, 10, id(1, 1));
    deliver(&mut t, 20, &[1, 2, 3], 1, id(1, 1));
    t.kill(2900, 3);
    t.end(3000)
}

fn sequencer_a_message_delivered_twice() -> Execution {
    let mut t = Trace::new(3);
    multicast(&mut t, 10, id(1, 1));
    deliver(&mut t, 20, &[2], 1, id(1, 1));
    deliver(&mut t, 30, &[2], 2, id(1, 1));
    t.end(3000)
}

fn sequencer_a_message_nobody_multicast() -> Execution {
    let mut t = Trace::new(3);
    deliver(&mut t, 20, &[1, 2, 3], 1, id(3, 7));
    t.end(3000)
}

fn sequencer_a_correct_origin_never_delivers_its_own() -> Execution {
    let mut t = Trace::new(3);
    multicast(&mut t, 10, id(2, 1));
    t.end(3000)
}

/// Every member follows node 2 for the whole run while node 3 lives: bully's stable agreement
/// (the highest live id leads) breaks in the embedded election.
fn sequencer_everyone_follows_a_lower_id() -> Execution {
    let mut t = Trace::new(3);
    t.follow(100, &[1, 2, 3], 2);
    t.end(2000)
}
