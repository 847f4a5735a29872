//! Multi-Paxos's rules one handler call at a time.
