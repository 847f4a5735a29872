//! One frame's payload through `wire::decode`, the node's fast decoder, against the derived
//! decoder it must agree with on every input (`wire::decode_derived`); what decodes re-encodes
//! to the same frame, and a message's borrowed encoding (`encode_msg`) is the owned one's.
#![no_main]

use libfuzzer_sys::fuzz_target;
use node::wire::{self, Frame};

fuzz_target!(|data: &[u8]| {
    let fast = wire::decode(data);
    let derived = wire::decode_derived(data);
    match (&fast, &derived) {
        (Ok(a), Ok(b)) => assert_eq!(a, b),
        (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
        _ => panic!("decode gave {fast:?}, the derived decoder {derived:?}"),
    }
    if let Ok(frame) = fast {
        let bytes = wire::encode(&frame);
        assert_eq!(wire::decode(&bytes).expect("an encoded frame decodes"), frame);
        if let Frame::Msg(e) = &frame {
            assert_eq!(wire::encode_msg(e.from, e.to, &e.instance, e.lc, &e.vc, &e.kind, &e.body), bytes);
        }
    }
});
